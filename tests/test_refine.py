import numpy as np
import pytest

from cluster.clusterer import SOMClusterer
from cluster.criteria import hungarian_accuracy
from cluster.refine import OpenSetRefiner, labeled_share, pinned_clusters, pinned_kmeans


def two_blobs(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0.0, 1.0, (n, 2)), rng.normal(6.0, 1.0, (n, 2))])
    return X, np.repeat([0, 1], n)


def test_pinned_clusters_follow_each_class_majority():
    labels = np.array([0, 0, 1, 1, 1, 2])
    known = np.array([5, 5, 5, -1, 7, -1])
    np.testing.assert_array_equal(pinned_clusters(labels, known), [0, 0, 0, -1, 1, -1])


def test_refinement_moves_a_misplaced_boundary_to_the_samples():
    X, y = two_blobs()
    start = (X[:, 0] > 6.0).astype(int)           # a boundary through the second blob
    assert hungarian_accuracy(y, start) < 0.8
    labels, centres = pinned_kmeans(X, start, np.full(len(X), -1), max_iter=20)
    assert hungarian_accuracy(y, labels) > 0.99
    np.testing.assert_allclose(centres[labels[0]], X[y == 0].mean(axis=0), atol=0.2)


def test_labeled_samples_stay_in_their_class_cluster():
    X, y = two_blobs()
    known = np.full(len(X), -1)
    known[[0, 1, 2]] = 1            # three samples of the first blob labeled as class 1 ...
    known[y == 1] = 1               # ... whose other labeled samples all lie in the second blob
    labels, _ = pinned_kmeans(X, y, known, max_iter=20)
    assert labels[0] == labels[1] == labels[2] == labels[len(X) - 1]
    assert (labels[3:200] == 0).all()             # the unlabeled rest of the first blob stays


def test_emptied_cluster_keeps_its_centre_and_the_result_is_deterministic():
    X = np.array([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2]])
    start = np.array([2, 0, 0, 2, 1, 1])        # cluster 2: one sample of each group
    labels, centres = pinned_kmeans(X, start, np.full(len(X), -1), max_iter=20)
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1, 1])
    assert centres[2, 0] == pytest.approx(5.0)
    again, _ = pinned_kmeans(X, start, np.full(len(X), -1), max_iter=20)
    np.testing.assert_array_equal(labels, again)


def test_somclusterer_refines_and_predicts_as_it_assigned():
    rng = np.random.default_rng(0)      # the blobs fixture's recipe, 200 a class: enough images
    y = np.repeat(np.arange(6), 200)    # that the labeled-share neighbourhood (40) fits in a
    X = (rng.normal(scale=8.0, size=(6, 16))[y]        # quarter of a cluster (50)
         + rng.normal(size=(len(y), 16))).astype(np.float32)
    known = np.where((y < 3) & (np.arange(len(y)) % 2 == 0), y, -1)
    model = SOMClusterer(8, 8, n_epochs=15, k_max=10, anchor_share=0.5,
                         refine_iter=20, random_state=0).fit(X, known)
    assert model.n_clusters_ == 6 and hungarian_accuracy(y, model.labels_) > 0.97
    for label in range(3):                      # each known class: one cluster, all pinned
        assert len(np.unique(model.labels_[known == label])) == 1
    assert model.cluster_centers_.shape == (6, X.shape[1])
    assert model.refiner_ is not None           # anchoring + refinement: open-set
    unlabeled = known < 0
    np.testing.assert_array_equal(model.predict(X)[unlabeled], model.labels_[unlabeled])
    with pytest.raises(ValueError, match="refine_iter"):
        SOMClusterer(refine_iter=-1).fit(X)


def known_next_to_new(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, true class, known): a tight known class 0 at the origin with a wide new class 2
    beside it (dresses beside T-shirts), known class 1 far away; half of each known class
    labeled."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0.0, 0.5, (400, 2)), rng.normal((30.0, 0.0), 1.0, (400, 2)),
                   rng.normal((4.0, 0.0), 2.0, (200, 2))])
    y = np.repeat([0, 1, 2], [400, 400, 200])
    known = np.where((y < 2) & (np.arange(len(y)) % 2 == 0), y, -1)
    return X, y, known


def test_labeled_share_is_relative_to_the_overall_share():
    labeled = np.array([True, False, False, False])             # overall share 0.25
    share = labeled_share(np.array([[0, 1], [1, 2]]), labeled)
    np.testing.assert_allclose(share, [2.0, 0.0])


def test_open_set_refinement_frees_a_new_class_absorbed_by_a_known_one():
    X, y, known = known_next_to_new()
    start = np.minimum(y, 1)                    # the new class inside known class 0's cluster ...
    start[np.flatnonzero(y == 2)[:5]] = 2       # ... and a new cluster seeded by 5 of its samples
    plain, _ = pinned_kmeans(X, start, known, max_iter=30)
    refiner = OpenSetRefiner(min_share=0.5, max_iter=30).fit(X, start, known)
    new, unlabeled = y == 2, known < 0
    # nearest-mean k-means leaves the new class's near side with the known class
    assert (refiner.labels_[new] == 2).mean() > 0.8 > (plain[new] == 2).mean()
    assert (refiner.labels_[unlabeled & (y == 0)] == 0).all()
    np.testing.assert_array_equal(refiner.class_clusters_, [0, 1])
    assert refiner.known_like_[unlabeled & (y < 2)].mean() > 0.95
    assert refiner.known_like_[new].mean() < 0.2            # those inside class 0
    X_new, y_new, _ = known_next_to_new(seed=1)
    predicted = refiner.predict(X_new)
    assert (predicted[y_new == 2] == 2).mean() > 0.85
    assert (predicted[y_new < 2] == y_new[y_new < 2]).mean() > 0.99
    again = OpenSetRefiner(min_share=0.5, max_iter=30).fit(X, start, known)
    np.testing.assert_array_equal(refiner.labels_, again.labels_)


def test_open_set_refinement_without_new_clusters_uses_every_centre():
    X, y, known = known_next_to_new()
    refiner = OpenSetRefiner().fit(X, np.minimum(y, 1), known)
    assert set(np.unique(refiner.labels_)) == {0, 1}
    assert (refiner.labels_[y == 2] == 0).mean() > 0.9    # nearest centre: mostly class 0's


def test_open_set_refinement_needs_two_known_classes():
    X, y, known = known_next_to_new()
    with pytest.raises(ValueError, match=">= 2 classes"):
        OpenSetRefiner().fit(X, np.minimum(y, 1), np.where(known == 0, 0, -1))


def test_labeled_share_test_needs_a_neighbourhood_within_a_quarter_of_a_cluster():
    from cluster.refine import labeled_share_test_holds

    dense = np.zeros(1000, dtype=bool)
    dense[::2] = True                         # half labeled: 20 neighbours, a quarter cluster 25
    assert labeled_share_test_holds(dense, n_clusters=10)
    quarter = np.zeros(1000, dtype=bool)
    quarter[::4] = True                       # a quarter labeled: 40 neighbours reach across
    assert not labeled_share_test_holds(quarter, n_clusters=10)
    sparse = np.zeros(1000, dtype=bool)
    sparse[::20] = True                       # 5 % labeled: 200 neighbours span several classes
    assert not labeled_share_test_holds(sparse, n_clusters=10)
