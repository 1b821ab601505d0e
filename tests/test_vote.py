import numpy as np
import pytest

from cluster.clusterer import SOMClusterer
from cluster.criteria import hungarian_accuracy
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
