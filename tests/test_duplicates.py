"""Stage 04's review lists: near-duplicate groups (exact against brute force), identical files,
and the distance of each image to its cluster's mean."""
import numpy as np
import pytest
from sklearn.preprocessing import normalize

from cluster.duplicates import (distance_ratios, duplicate_groups, groups_of,
                                identical_file_pairs, near_duplicate_pairs)
from cluster.features import signed_sqrt


def brute_force_pairs(rows: np.ndarray, min_cosine: float) -> set[tuple[int, int]]:
    """Every pair (i < j) of ``rows`` with cosine >= ``min_cosine``."""
    unit = normalize(rows)
    return set(zip(*map(np.ndarray.tolist, np.nonzero(np.triu(unit @ unit.T >= min_cosine, k=1)))))


def test_near_duplicate_pairs_match_brute_force():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(600, 96)).astype(np.float32)
    features[100] = features[7] + 0.05 * rng.normal(size=96)        # planted near-duplicates
    features[300] = features[7] * 3.0                               # same direction: cosine 1
    features[450] = features[20] + 0.08 * rng.normal(size=96)
    for min_cosine in (0.99, 0.95, 0.2):
        expected = brute_force_pairs(signed_sqrt(features), min_cosine)
        found = near_duplicate_pairs(features, min_cosine)
        assert set(found) == expected and len(found) == len(expected)
    assert groups_of(near_duplicate_pairs(features, 0.99), 600) == [[7, 100, 300], [20, 450]]


@pytest.mark.parametrize("random_state", [0, 1000])
def test_near_duplicates_are_measured_on_the_signed_square_roots(tmp_path, random_state):
    """Near-duplicates are near in the clustering's measure, the signed square roots, and all of
    them are found whatever the seed of the candidate search. Two kinds of non-negative groups
    (five copies each) tell the measures apart: copies of an on/off pattern with one large value
    in a different place (square roots 0.98 alike, the values themselves 0.70), and copies sharing
    five large values but not their many small ones (values 0.99 alike, square roots 0.70)."""
    rng = np.random.default_rng(2)
    rows = []
    for _ in range(10):
        pattern = (rng.random(1000) < 0.5).astype(np.float64)
        for copy in range(5):
            rows.append(pattern.copy())
            rows[-1][np.flatnonzero(pattern)[copy]] = 16.0
    for _ in range(10):
        spikes = np.zeros(1000)
        spikes[rng.choice(1000, 5, replace=False)] = 20.0
        rows += [spikes + 0.3 * (rng.random(1000) < 0.5) for _ in range(5)]
    features = np.array(rows)
    within = {(5 * g + a, 5 * g + b) for g in range(20) for a in range(5) for b in range(a + 1, 5)}
    expected = brute_force_pairs(signed_sqrt(features), 0.98)
    assert expected == {pair for pair in within if pair[0] < 50}
    assert brute_force_pairs(features, 0.98) == {pair for pair in within if pair[0] >= 50}
    assert set(near_duplicate_pairs(features, 0.98, random_state)) == expected
    paths = [tmp_path / f"{i}.png" for i in range(100)]  # no files: near-duplicates only
    groups, identical = duplicate_groups(features, paths, 0.98, random_state)
    assert groups == [list(range(5 * g, 5 * g + 5)) for g in range(10)] and not identical


def test_identical_files_and_groups(tmp_path):
    paths = []
    for name, data in (("a", b"same"), ("b", b"other"), ("c", b"same"), ("d", b"sam3")):
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    paths.append(tmp_path / "missing")
    assert identical_file_pairs(paths) == [(0, 2)]
    assert groups_of([(0, 2), (2, 3), (5, 6)], 8) == [[0, 2, 3], [5, 6]]
    assert groups_of([], 3) == []


def test_distance_ratios():
    projected = np.array([[0.0, 0], [1, 0], [3, 0], [10, 10], [10, 12]])
    distance, ratio = distance_ratios(projected, np.array([0, 0, 0, 1, 1]))
    np.testing.assert_allclose(distance, [4 / 3, 1 / 3, 5 / 3, 1, 1])
    np.testing.assert_allclose(ratio, [1, 0.25, 1.25, 1, 1])


def test_deduplicate_fits_one_image_per_group_and_spreads_its_cluster(tmp_path):
    import csv
    import pickle

    from cluster.run import ClusterSettings, cluster_feature_set

    rng = np.random.default_rng(1)
    centres = rng.normal(scale=6.0, size=(3, 24))
    y = np.repeat(np.arange(3), 40)
    features = (centres[y] + rng.normal(size=(120, 24))).astype(np.float32)
    features[[5, 50, 90]] = features[0] + 1e-3           # one group spanning three blobs
    files = [f"img_{i:03d}.png" for i in range(120)]
    known = np.full(120, -1)
    settings = ClusterSettings(som_rows=4, som_cols=4, som_epochs=5,
                               feature_pca=8, k_max=6, anchor_share=0.0,
                               refine_iter=0, duplicate_similarity=0.999, deduplicate=True)
    summary = cluster_feature_set(features, files, known, tmp_path, "clusters", settings,
                                  raw_dir=tmp_path / "raw")
    assert summary["duplicate_groups"] == 1 and summary["duplicate_images"] == 3
    with open(tmp_path / "clusters.csv", newline="") as handle:
        cluster = [int(r["cluster"]) for r in csv.DictReader(handle)]
    assert len(cluster) == 120 and cluster[0] == cluster[5] == cluster[50] == cluster[90]
    model = pickle.loads((tmp_path / "clusters_model.pkl").read_bytes())["clusterer"]
    assert len(model.labels_) == 117                     # fitted on one image of the group
    with open(tmp_path / "duplicates.csv", newline="") as handle:
        assert [r["file"] for r in csv.DictReader(handle)] == [files[i] for i in (0, 5, 50, 90)]
