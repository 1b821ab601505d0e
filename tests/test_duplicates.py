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
