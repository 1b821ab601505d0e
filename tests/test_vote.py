import numpy as np
import pytest

from sklearn.neighbors import NearestNeighbors

import cluster.features as cluster_features
from cluster.clusterer import SOMClusterer
from cluster.criteria import hungarian_accuracy, knn_graph
from cluster.vote import NeighbourVote, keep_every_cluster, majority


def _two_blobs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 0.3, (40, 2)), rng.normal(4, 0.3, (40, 2))]).astype(np.float32)
    return X, np.repeat([0, 1], 40)


def test_majority_takes_the_most_held_label_and_keeps_the_current_on_a_tie():
    votes = np.array([[1, 1, 0], [2, 0, 2], [0, 1, 2], [1, 0, 0]])
    np.testing.assert_array_equal(majority(votes, np.array([0, 0, 1, 1])), [1, 2, 1, 0])


def test_the_vote_moves_stray_samples_to_their_neighbours_cluster_but_not_pinned_ones():
    X, y = _two_blobs()
    labels = y.copy()
    labels[[3, 7, 50]] = 1 - y[[3, 7, 50]]          # three samples in the other blob's cluster
    pinned = np.zeros(len(X), dtype=bool)
    pinned[7] = True
    vote = NeighbourVote(n_neighbours=10, max_rounds=30).fit(X, labels, pinned)
    expected = y.copy()
    expected[7] = 1 - y[7]                           # pinned: stays where it was put
    np.testing.assert_array_equal(vote.labels_, expected)
    assert vote.rounds_ == 1
    unchanged = NeighbourVote(max_rounds=0).fit(X, labels, pinned)
    np.testing.assert_array_equal(unchanged.labels_, labels)


def test_the_vote_keeps_every_cluster_and_looks_no_wider_than_half_the_smallest():
    voted, labels = np.array([0, 0, 0, 1]), np.array([0, 2, 2, 1])
    np.testing.assert_array_equal(keep_every_cluster(voted, labels), labels)    # 2 would be emptied
    rng = np.random.default_rng(1)
    X = rng.normal(0, 1, (60, 2)).astype(np.float32)        # one blob, cut into 54 + 6 at random
    labels = np.zeros(60, dtype=np.int64)
    labels[rng.choice(60, 6, replace=False)] = 1
    vote = NeighbourVote(n_neighbours=10).fit(X, labels, np.zeros(60, dtype=bool))
    assert vote.nearest_.n_neighbors == 3 + 1               # 6 // 2 neighbours, and itself
    assert (vote.labels_ == 1).any() and (vote.labels_ == 0).sum() >= 54


def test_a_new_sample_gets_one_vote_and_a_fitted_one_its_cluster():
    X, y = _two_blobs()
    vote = NeighbourVote(n_neighbours=5).fit(X, y, np.zeros(len(X), dtype=bool))
    new = np.array([[0.1, -0.1], [4.0, 4.1]], dtype=np.float32)
    # both say cluster 1 themselves: the first lies among blob 0's samples, which outvote it
    np.testing.assert_array_equal(vote.predict(new, np.array([1, 1])), [0, 1])
    np.testing.assert_array_equal(vote.predict(X, 1 - y), y)        # fitted rows: their cluster


def test_the_clusterer_votes_last_and_predicts_what_it_fitted(blobs):
    X, y = blobs
    known = np.where((y < 3) & (np.arange(len(y)) % 2 == 0), y, -1)
    settings = dict(k_max=10, anchor_share=0.5, refine_iter=10, random_state=0)
    plain = SOMClusterer(8, 8, 15, **settings).fit(X, known)
    voted = SOMClusterer(8, 8, 15, vote_rounds=30, **settings).fit(X, known)
    assert plain.vote_ is None and voted.vote_ is not None
    assert hungarian_accuracy(y, voted.labels_) >= hungarian_accuracy(y, plain.labels_)
    assert (voted.labels_[known >= 0] == plain.labels_[known >= 0]).all()    # labeled: kept
    np.testing.assert_array_equal(voted.predict(X), voted.labels_)
    np.testing.assert_array_equal(voted.vote(X, plain.labels_), voted.labels_)
    np.testing.assert_array_equal(plain.vote(X, plain.labels_), plain.labels_)
    with pytest.raises(ValueError, match="vote_rounds"):
        SOMClusterer(vote_rounds=-1).fit(X)


def test_one_search_serves_the_averaging_the_count_and_the_vote(blobs, monkeypatch):
    X, y = blobs
    searched = []
    search = cluster_features.nearest_rows
    monkeypatch.setattr("cluster.clusterer.nearest_rows",
                        lambda rows, n: searched.append(len(rows)) or search(rows, n))
    spied = []
    kneighbors = NearestNeighbors.kneighbors
    monkeypatch.setattr(NearestNeighbors, "kneighbors",
                        lambda self, *a, **k: spied.append(1) or kneighbors(self, *a, **k))
    clusterer = SOMClusterer(8, 8, 15, k_max=10, smooth_neighbours=5, vote_rounds=30,
                             random_state=0).fit(X)
    assert searched == [len(X)] and len(spied) == 1        # one search over the fitted samples
    distances, nearest = search(X, 10)
    assert nearest.shape == (len(X), 11) and (nearest[:, 0] == np.arange(len(X))).all()
    np.testing.assert_array_equal(cluster_features.neighbour_average(X, X, 5, (distances, nearest)),
                                  cluster_features.neighbour_average(X, X, 5))
    assert (knn_graph(X, 4, nearest=nearest) != knn_graph(X, 4)).nnz == 0
    shared = NeighbourVote(5).fit(X, clusterer.labels_, np.zeros(len(X), bool), nearest)
    alone = NeighbourVote(5).fit(X, clusterer.labels_, np.zeros(len(X), bool))
    np.testing.assert_array_equal(shared.labels_, alone.labels_)
    assert search(X[:3], 10)[1].shape == (3, 3)             # at most every row


@pytest.mark.parametrize("refine_iter", [0, 10])
def test_after_the_vote_units_and_centres_follow_the_voted_clusters(refine_iter):
    rng = np.random.default_rng(0)                  # six overlapping blobs: the vote moves some
    y = np.repeat(np.arange(6), 80)
    X = (rng.normal(size=(6, 16))[y] + rng.normal(size=(len(y), 16))).astype(np.float32)
    settings = dict(k_max=10, refine_iter=refine_iter, random_state=0)
    plain = SOMClusterer(8, 8, 15, **settings).fit(X)
    voted = SOMClusterer(8, 8, 15, vote_rounds=30, **settings).fit(X)
    assert (voted.labels_ != plain.labels_).sum() >= 5
    for unit in np.unique(voted.units_):
        held = np.bincount(voted.labels_[voted.units_ == unit])
        assert held[voted.unit_clusters_[unit]] == held.max()
    for cluster in np.unique(voted.labels_):
        np.testing.assert_allclose(voted.cluster_centers_[cluster],
                                   voted.average(X)[voted.labels_ == cluster].mean(axis=0),
                                   atol=1e-5)
    np.testing.assert_array_equal(voted.predict(X), voted.labels_)


def test_a_cluster_the_refinement_emptied_keeps_its_centre_after_the_vote(blobs, monkeypatch):
    X, _ = blobs
    kept_centre = np.full(X.shape[1], 7.0)

    def emptying_refinement(X, labels, known, max_iter):   # cluster 0's members go to cluster 1
        labels = np.where(labels == 0, 1, labels)
        centres = np.vstack([kept_centre, [X[labels == c].mean(axis=0) if (labels == c).any()
                                           else kept_centre for c in range(1, labels.max() + 1)]])
        return labels, centres
    monkeypatch.setattr("cluster.clusterer.pinned_kmeans", emptying_refinement)
    voted = SOMClusterer(8, 8, 15, k_max=10, refine_iter=10, vote_rounds=30,
                         random_state=0).fit(X)
    assert not (voted.labels_ == 0).any()
    np.testing.assert_array_equal(voted.cluster_centers_[0], kept_centre)
