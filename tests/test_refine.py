import numpy as np
import pytest

from cluster.n_clusters import SOMClusterer, hungarian_accuracy
from cluster.refine import pinned_clusters, pinned_kmeans


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


def test_somclusterer_refines_and_predicts_the_nearest_centre(blobs):
    X, y = blobs
    known = np.where((y < 3) & (np.arange(len(y)) % 2 == 0), y, -1)
    model = SOMClusterer(8, 8, n_epochs=15, k_max=10, criterion="silhouette", anchor_share=0.5,
                         refine_iter=20, random_state=0).fit(X, known)
    assert model.n_clusters_ == 6 and hungarian_accuracy(y, model.labels_) > 0.97
    for label in range(3):                      # each known class: one cluster, all pinned
        assert len(np.unique(model.labels_[known == label])) == 1
    assert model.cluster_centers_.shape == (6, X.shape[1])
    unlabeled = known < 0
    np.testing.assert_array_equal(model.predict(X)[unlabeled], model.labels_[unlabeled])
    with pytest.raises(ValueError, match="refine_iter"):
        SOMClusterer(refine_iter=-1).fit(X)
