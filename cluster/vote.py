"""The neighbour vote: the clusters smoothed on the images' nearest-neighbour graph.

After the refinement each sample takes the cluster that most of its nearest samples and itself
are in, round after round until no sample changes (label propagation, Raghavan et al. 2007,
started from the refined clustering; the graph is the count's, :data:`GRAPH_NEIGHBOURS`
neighbours of the features as given). Labeled samples keep their cluster, a tie keeps the sample
where it is, and a cluster the vote would empty keeps its members: the vote moves samples
between the clusters the count chose, it does not change their number. A neighbourhood wider
than a cluster outvotes it, so the vote looks at no more neighbours than half the smallest
cluster's size (the 80 images of the tests' run, clusters of 6-46: 10 neighbours took their NMI
from 0.302 to 0.224 and 3 of 5 clusters away, 3 neighbours give 0.300; on the quality suite the
limit changes nothing). The SOM and the refinement draw the borders between cluster means; the
vote moves a sample to its neighbours' cluster where such a border cuts through a dense region.

On the quality suite (both fine-tuning seeds, 8 stage-04 seeds each) NMI on the unlabeled
images 0.630 / 0.652 / 0.681 at 10 / 30 / 50 % labeled against 0.621 / 0.638 / 0.670 without
it, 30 of 36 cells up and 2 down by at most 0.007, the same k̂ on every run; without labels
0.593 against 0.581; the demo 0.588 against 0.592 (benchmarks/README.md, "The neighbour vote").
"""
from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from cluster.criteria import GRAPH_NEIGHBOURS
from cluster.features import SAME_ROW_DISTANCE


def plurality(owners: np.ndarray, labels: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Per entry of ``current``, the label most of the ``labels`` whose ``owners`` is that
    entry's index hold; ``current`` where it ties for first (so where no label is owned).
    With ``owners`` each sample's SOM unit: the cluster of each unit after the vote."""
    counts = np.zeros((len(current), int(max(labels.max(), current.max())) + 1))
    np.add.at(counts, (owners, labels), 1)
    keep = counts[np.arange(len(current)), current] >= counts.max(axis=1)
    return np.where(keep, current, counts.argmax(axis=1))


def majority(votes: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Per row, the label most of ``votes`` (n, m) hold; ``current`` where it ties for first."""
    return plurality(np.repeat(np.arange(len(votes)), votes.shape[1]), votes.ravel(), current)


def keep_every_cluster(voted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``voted``, except that the members of a cluster of ``labels`` the vote would empty stay."""
    voted = voted.copy()
    for emptied in np.setdiff1d(labels, voted):
        voted[labels == emptied] = emptied
    return voted


class NeighbourVote:
    """Majority votes of each sample's ``n_neighbours`` nearest samples and itself, at most
    ``max_rounds`` rounds (see the module docstring).

    ``fit(X, labels, pinned)`` smooths ``labels`` of the rows ``X`` (``pinned`` rows keep theirs),
    with at most half the smallest cluster's size as neighbours: ``labels_``, ``rounds_`` (rounds
    that changed a label). ``predict(X, labels)`` gives new rows one vote among as many nearest
    fitted rows and their own ``labels``; a row equal to a fitted row takes that row's cluster.
    """

    def __init__(self, n_neighbours: int = GRAPH_NEIGHBOURS, max_rounds: int = 30):
        self.n_neighbours = n_neighbours
        self.max_rounds = max_rounds

    def fit(self, X: np.ndarray, labels: np.ndarray, pinned: np.ndarray,
            nearest: np.ndarray | None = None) -> "NeighbourVote":
        """``nearest``: the indices of each row's nearest rows of ``X`` already searched (itself
        included, nearest first: :func:`cluster.features.nearest_rows`), with at least
        ``n_neighbours`` + 1 columns."""
        X, labels = np.asarray(X, dtype=np.float32), np.asarray(labels, dtype=np.int64)
        sizes = np.bincount(labels)
        smallest = int(sizes[sizes > 0].min())
        n_neighbours = max(1, min(self.n_neighbours, smallest // 2, len(X) - 1))
        self.nearest_ = NearestNeighbors(n_neighbors=n_neighbours + 1, algorithm="brute").fit(X)
        if nearest is None:
            nearest = self.nearest_.kneighbors(X, return_distance=False)
        neighbourhood = nearest[:, :n_neighbours + 1]                         # itself included
        self.rounds_ = 0
        while self.rounds_ < self.max_rounds:
            voted = np.where(pinned, labels, majority(labels[neighbourhood], labels))
            voted = keep_every_cluster(voted, labels)
            if (voted == labels).all():
                break
            labels, self.rounds_ = voted, self.rounds_ + 1
        self.labels_ = labels
        return self

    def predict(self, X: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The clusters of new rows ``X`` given their own ``labels`` (see the class docstring)."""
        labels = np.asarray(labels, dtype=np.int64)
        distances, nearest = self.nearest_.kneighbors(np.asarray(X, dtype=np.float32),
                                                      self.nearest_.n_neighbors - 1)
        voted = majority(np.column_stack([labels, self.labels_[nearest]]), labels)
        same = distances[:, 0] <= SAME_ROW_DISTANCE
        voted[same] = self.labels_[nearest[same, 0]]
        return voted
