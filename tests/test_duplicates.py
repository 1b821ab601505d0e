"""Stage 04's review lists: near-duplicate groups (exact against brute force), identical files,
and the distance of each image to its cluster's mean."""
import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import normalize

from cluster.duplicates import (distance_ratios, groups_of, identical_file_pairs,
                                near_duplicate_pairs)


def test_near_duplicate_pairs_match_brute_force():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(600, 96)).astype(np.float32)
    features[100] = features[7] + 0.05 * rng.normal(size=96)        # planted near-duplicates
    features[300] = features[7] * 3.0                               # same direction: cosine 1
    features[450] = features[20] + 0.08 * rng.normal(size=96)
    unit = normalize(features)
    projected = PCA(16, random_state=0).fit_transform(unit)
    cosine = unit @ unit.T
    for min_cosine in (0.99, 0.95, 0.2):
        expected = {(i, j) for i, j in zip(*np.nonzero(np.triu(cosine >= min_cosine, k=1)))}
        found = near_duplicate_pairs(features, projected, min_cosine)
        assert set(found) == expected and len(found) == len(expected)
    assert groups_of(near_duplicate_pairs(features, projected, 0.99), 600) == [[7, 100, 300],
                                                                                [20, 450]]


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
