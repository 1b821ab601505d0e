import numpy as np

from cluster.refine import labeled_share_test_holds
import cluster.stability
from cluster.stability import (MIN_DETECTION, MIN_LEVEL, STABLE_JACCARD, UNSTABLE_RUN,
                               calibrated_level, detection_rate, far_from_labeled,
                               largest_stable_k, new_looking, sparse_label_flags, stability_k,
                               worst_cluster_match)


def blobs(n_classes: int, seed: int = 0, per_class: int = 100) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(n_classes, 8))
    y = np.repeat(np.arange(n_classes), per_class)
    return (centres[y] + rng.normal(size=(len(y), 8))).astype(np.float32), y


def overlapping_classes(spread: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, known): 8 Gaussian classes in 8-D, 60 samples each, overlapping more as
    ``spread`` grows; half of the samples of classes 0-3 labeled (known), 4-7 new."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, 8)) * 3.0
    y = np.repeat(np.arange(8), 60)
    X = (centres[y] + spread * rng.normal(size=(len(y), 8))).astype(np.float32)
    return X, y, np.where((y < 4) & (rng.random(len(y)) < 0.5), y, -1)


def test_worst_cluster_match():
    assert worst_cluster_match(np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0]), 2) == 1.0
    # cluster 0 of a split in two: its best match covers half of it
    assert worst_cluster_match(np.array([0, 0, 0, 0, 1, 1]),
                               np.array([0, 0, 1, 1, 1, 1]), 2) == 0.5


def test_largest_stable_k_finds_the_blobs_and_stops_after_unstable_k():
    X, _ = blobs(4)
    k, scores = largest_stable_k(X, list(range(2, 12)), seed=0)
    assert k == 4
    assert all(s >= 0.75 for s in scores[:3]) and max(scores[3:3 + UNSTABLE_RUN]) < 0.6
    assert np.isnan(scores[3 + UNSTABLE_RUN:]).all()      # UNSTABLE_RUN unstable k: it stopped
    assert np.isnan(largest_stable_k(X[:12], [2, 6, 7], seed=0)[1][2])  # k > half the samples
    again = largest_stable_k(X, list(range(2, 12)), seed=0)                  # seeded
    assert again[0] == k
    np.testing.assert_array_equal(again[1], scores)


def test_a_lower_level_counts_clusters_that_are_less_stable():
    X, _, _ = overlapping_classes(spread=4.0)
    strict, scores = largest_stable_k(X, list(range(2, 10)), seed=0)
    loose = largest_stable_k(X, list(range(2, 10)), seed=0, level=0.3)[0]
    assert loose > strict and max(s for s in scores if s == s) >= 0.3


def test_calibrated_level_is_hennigs_where_the_known_classes_are_stable_clusters():
    X, _ = blobs(4)
    assert calibrated_level(X, 4, seed=0) == STABLE_JACCARD
    assert calibrated_level(X[:6], 4, seed=0) == STABLE_JACCARD       # < 2 samples a cluster


def test_calibrated_level_counts_new_classes_as_separable_as_the_known_ones(monkeypatch):
    X, _, known = overlapping_classes(spread=3.0)
    level = calibrated_level(X[known >= 0], 4, seed=0)
    assert level < STABLE_JACCARD                 # the known classes are not stable at 0.75
    assert stability_k(X, known, list(range(2, 16)), seed=0)[0] == 8
    monkeypatch.setattr(cluster.stability, "LEVELS", (STABLE_JACCARD,))   # Hennig's level only
    assert stability_k(X, known, list(range(2, 16)), seed=0)[0] < 8     # undercounts (7)


def test_calibrated_level_stays_above_random_cuts_where_the_known_classes_are_no_clusters(
        monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(240, 8)).astype(np.float32)    # 4 "classes" that are no clusters
    assert calibrated_level(X, 4, seed=0) == MIN_LEVEL
    monkeypatch.setattr(cluster.stability, "MIN_LEVEL", 0.0)
    assert calibrated_level(X, 4, seed=0) < MIN_LEVEL    # what the labeled scan alone says


def test_no_structure_gives_no_stable_k():
    X = np.random.default_rng(0).uniform(size=(400, 8)).astype(np.float32)
    assert largest_stable_k(X, [2, 3, 4, 5], seed=0)[0] is None


def test_new_looking_samples_are_the_unlabeled_ones_far_from_labeled_ones():
    X, y = blobs(5)
    known = np.where((y < 3) & (np.arange(len(y)) % 2 == 0), y, -1)
    new = new_looking(X, known)
    np.testing.assert_array_equal(new, y >= 3)


def test_far_from_labeled_finds_new_classes_where_labels_are_too_sparse_for_the_share_test():
    X, y = blobs(8, per_class=120)                   # 4 known classes, 4 new; 4 % labeled
    known = np.where((y < 4) & (np.arange(len(y)) % 25 == 0), y, -1)
    labeled = known >= 0
    assert not labeled_share_test_holds(labeled, 8)
    far = far_from_labeled(X, labeled)
    assert not far[labeled].any()
    assert far[y >= 4].mean() > 0.5 and (y[far] >= 4).mean() > 0.9
    # chance flags inside the known classes (about NOVELTY_ALPHA of them) are dropped: they sit
    # among unflagged neighbours; kept, they formed 4 more stable clusters (k̂ 12)
    assert abs(stability_k(X, known, list(range(2, 15)), seed=0)[0] - 8) <= 1


def test_far_from_labeled_flags_nothing_without_new_classes():
    X, y = blobs(4, per_class=120)                   # every class known, 4 % labeled
    labeled = np.arange(len(y)) % 25 == 0
    assert not far_from_labeled(X, labeled).any()
    assert not far_from_labeled(X, np.zeros(len(y), dtype=bool)).any()
    # the tests would have found a class without labels: no flags means no new class
    known = np.where(labeled, y, -1)
    assert detection_rate(X, known, seed=0) == 1.0
    assert stability_k(X, known, list(range(2, 12)), seed=0)[0] == 4


def test_few_flags_say_nothing_where_the_tests_cannot_find_a_hidden_class(monkeypatch):
    # two far-apart groups of 4 overlapping classes; 2 classes of each group known, 4 % labeled
    rng = np.random.default_rng(1)
    centres = (rng.normal(scale=10.0, size=(2, 8))[np.repeat([0, 1], 4)]
               + rng.normal(scale=0.3, size=(8, 8)))
    y = np.repeat(np.arange(8), 120)
    X = (centres[y] + rng.normal(size=(len(y), 8))).astype(np.float32)
    known = np.where(np.isin(y, [0, 1, 4, 5]) & (np.arange(len(y)) % 25 == 0), y, -1)
    assert sparse_label_flags(X, known).sum() < 0.02 * (known < 0).sum()
    assert detection_rate(X, known, seed=0) < MIN_DETECTION     # a hidden class goes unseen
    ks = list(range(2, 14))
    assert stability_k(X, known, ks, seed=0)[0] >= 6    # 4 known + the unlabeled images' groups
    monkeypatch.setattr(cluster.stability, "MIN_DETECTION", 0.0)   # few flags taken at their word
    assert stability_k(X, known, ks, seed=0)[0] == 4


def test_stability_k_adds_the_new_clusters_to_the_known_classes():
    X, y = blobs(7)                                   # 3 known classes + 4 new ones
    known = np.where((y < 3) & (np.arange(len(y)) % 2 == 0), y, -1)
    k, scores = stability_k(X, known, list(range(2, 13)), seed=0)
    assert k == 7
    assert np.isnan(scores[:2]).all()                 # k <= 3: no new cluster to score
    assert scores[5] >= 0.75 > scores[6]              # k = 7: the 4 new blobs, stable


def test_stability_k_without_new_looking_samples_is_the_known_classes():
    X, y = blobs(3)
    known = np.where(np.arange(len(y)) % 2 == 0, y, -1)
    assert stability_k(X, known, list(range(2, 8)), seed=0)[0] == 3
