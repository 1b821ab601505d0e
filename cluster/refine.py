"""Refining a clustering on the samples: semi-supervised k-means with the labeled samples pinned.

The SOM groups prototypes, so every sample inherits its best-matching unit's cluster and the
cluster boundaries run along unit borders. A few k-means iterations on the samples themselves,
started from those clusters, move the boundaries to where the samples are (GCD's SS-k-means,
Vaze et al. 2022): each labeled sample stays in the cluster that holds most of its class, the
others go to the nearest cluster mean, until nothing changes.

With label anchoring the refinement is open-set (:class:`OpenSetRefiner`): the labeled images
are a random draw from the known classes, so an unlabeled image of a known class has labeled
images among its nearest neighbours (about its class's labeled share), while one of an unknown
class has almost none. Images that pass that test are assigned to a known class by a classifier
trained on the labeled images; the others may only join the new clusters. Plain k-means instead
lets a new class that lies next to a known one (dresses beside T-shirts) be absorbed by it, and
assigns the known classes by their cluster means only.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors

from cluster.som import squared_distances

EXPECTED_LABELED = 10             # labeled neighbours a known-class image should expect
MIN_NEIGHBORS, MAX_NEIGHBORS = 20, 500


def pinned_clusters(labels: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Cluster each sample is pinned to: for a labeled sample (``known`` >= 0), the cluster that
    holds most labeled samples of its class; -1 for the others."""
    pinned = np.full(len(labels), -1, dtype=np.int64)
    for label in np.unique(known[known >= 0]):
        of_class = known == label
        pinned[of_class] = np.bincount(labels[of_class]).argmax()
    return pinned


def cluster_means(X: np.ndarray, labels: np.ndarray,
                  n_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean of each cluster's rows (zeros where empty), number of rows in each)."""
    one_hot = np.zeros((len(labels), n_clusters))
    one_hot[np.arange(len(labels)), labels] = 1.0
    counts = np.bincount(labels, minlength=n_clusters)
    return one_hot.T @ X / np.maximum(counts, 1)[:, None], counts


def pinned_kmeans(X: np.ndarray, labels: np.ndarray, known: np.ndarray,
                  max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """(refined labels, cluster centres) after at most ``max_iter`` k-means iterations started
    from ``labels`` (cluster ids 0..k-1), with the labeled samples pinned (see
    :func:`pinned_clusters`). A cluster that empties keeps its last centre (no random re-seeding:
    the result depends on the input alone). ``max_iter`` = 0 returns the clusters' means."""
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n_clusters = int(labels.max()) + 1
    pinned = pinned_clusters(labels, np.asarray(known))
    fixed = pinned >= 0
    current = np.where(fixed, pinned, labels)
    centres = np.zeros((n_clusters, X.shape[1]))
    has_centre = np.zeros(n_clusters, dtype=bool)
    for iteration in range(max_iter + 1):
        means, counts = cluster_means(X, current, n_clusters)
        filled = counts > 0
        centres[filled] = means[filled]
        has_centre |= filled
        if iteration == max_iter:
            break
        nearest = squared_distances(X, centres)
        nearest[:, ~has_centre] = np.inf
        updated = np.where(fixed, pinned, nearest.argmin(axis=1))
        if np.array_equal(updated, current):
            break
        current = updated
    return current, centres


def neighbourhood_size(labeled: np.ndarray) -> int:
    """Neighbours in the labeled-share test: enough that an image of a known class expects
    ``EXPECTED_LABELED`` labeled ones among them (the overall labeled share is a lower bound of
    a known class's), within [MIN_NEIGHBORS, MAX_NEIGHBORS] and fewer than the samples: with
    few labels, a small neighbourhood often holds none by chance."""
    share = max(float(np.mean(labeled)), 1e-12)
    wanted = int(np.clip(np.ceil(EXPECTED_LABELED / share), MIN_NEIGHBORS, MAX_NEIGHBORS))
    return max(1, min(wanted, len(labeled) - 1))


def labeled_share_test_holds(labeled: np.ndarray, n_clusters: int) -> bool:
    """Whether the labeled-share test can tell known from new classes here: the neighbourhood it
    needs (:func:`neighbourhood_size`) fits within a quarter of an average cluster (n / 4k).
    With sparser labels the neighbourhood reaches across class borders, new-class images beside
    a known class get labeled neighbours, and the test calls them known (at half a cluster the
    quality suite's 50 % cells lost 0.014 mean NMI to it; the Fashion-MNIST benchmark, with a
    neighbourhood of a fiftieth of a class, is the same either way)."""
    return neighbourhood_size(labeled) <= len(labeled) / (4 * max(n_clusters, 1))


def known_class_neighbourhood(X: np.ndarray,
                              labeled: np.ndarray) -> tuple[NearestNeighbors, np.ndarray]:
    """(nearest-neighbour index of ``X``, labeled share among each row's neighbours, itself
    excluded; see :func:`neighbourhood_size` and :func:`labeled_share`)."""
    index = NearestNeighbors(n_neighbors=neighbourhood_size(labeled)).fit(X)
    return index, labeled_share(index.kneighbors(return_distance=False), labeled)


def labeled_share(neighbours: np.ndarray, labeled: np.ndarray) -> np.ndarray:
    """Share of labeled samples among each row of ``neighbours`` (indices into ``labeled``),
    over the share of labeled samples in all of ``labeled``: about 1 or more inside the known
    classes, about 0 inside unknown ones."""
    return labeled[neighbours].mean(axis=1) / max(labeled.mean(), 1e-12)


class OpenSetRefiner:
    """Open-set refinement of a clustering whose known classes have one cluster each.

    ``fit(X, labels, known)``: labeled samples (``known`` >= 0) stay pinned to their class's
    cluster (:func:`pinned_clusters`); an unlabeled sample whose nearest neighbours
    (:func:`neighbourhood_size`) hold at least ``min_share`` times the overall labeled share is
    known-like and goes to the cluster of the class a logistic regression on the labeled samples
    predicts; the other unlabeled samples move by k-means among the clusters that hold no known
    class (among all when there are none) for at most ``max_iter`` iterations.

    Attributes: ``labels_``, ``cluster_centers_`` (each cluster's mean; an emptied cluster keeps
    its starting mean), ``known_like_`` (unlabeled samples assigned by the classifier),
    ``moving_`` (the other unlabeled samples, moved by k-means), ``class_clusters_`` (cluster of
    each known class), ``classifier_``, ``neighbors_``.
    """

    def __init__(self, min_share: float = 0.5, max_iter: int = 30):
        self.min_share = min_share
        self.max_iter = max_iter

    def fit(self, X: np.ndarray, labels: np.ndarray, known: np.ndarray) -> "OpenSetRefiner":
        X = np.asarray(X, dtype=np.float64)
        labels, known = np.asarray(labels, dtype=np.int64), np.asarray(known, dtype=np.int64)
        self._labeled = known >= 0
        if len(np.unique(known[self._labeled])) < 2:
            raise ValueError("open-set refinement needs labeled samples of >= 2 classes")
        n_clusters = int(labels.max()) + 1
        pinned = pinned_clusters(labels, known)
        self.class_clusters_ = np.full(int(known.max()) + 1, -1, dtype=np.int64)
        for label in np.unique(known[self._labeled]):
            self.class_clusters_[label] = pinned[known == label][0]
        self._new = ~np.isin(np.arange(n_clusters), self.class_clusters_)
        self.neighbors_, share = known_class_neighbourhood(X, self._labeled)
        self.known_like_ = ~self._labeled & (share >= self.min_share)
        self.classifier_ = LogisticRegression(max_iter=1000).fit(X[self._labeled],
                                                                 known[self._labeled])
        current = np.where(self._labeled, pinned, labels)
        current[self.known_like_] = self._classify(X[self.known_like_])
        self.moving_ = moving = ~self._labeled & ~self.known_like_
        self.cluster_centers_ = cluster_means(X, labels, n_clusters)[0]
        for _ in range(self.max_iter + 1):
            means, counts = cluster_means(X, current, n_clusters)
            self.cluster_centers_[counts > 0] = means[counts > 0]
            updated = self._nearest_allowed(X[moving])
            if np.array_equal(updated, current[moving]):
                break
            current[moving] = updated
        self.labels_ = current
        return self

    def _classify(self, X: np.ndarray) -> np.ndarray:
        return self.class_clusters_[self.classifier_.predict(X)]

    def _nearest_allowed(self, X: np.ndarray) -> np.ndarray:
        """Nearest cluster centre among the new clusters (among all when there are none)."""
        distances = squared_distances(X, self.cluster_centers_)
        if self._new.any():
            distances[:, ~self._new] = np.inf
        return distances.argmin(axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Cluster of new samples: the classifier's known class when the fitted samples nearest
        them pass the labeled-share test, else the nearest new cluster's centre."""
        X = np.asarray(X, dtype=np.float64)
        neighbours = self.neighbors_.kneighbors(X, return_distance=False)
        known_like = labeled_share(neighbours, self._labeled) >= self.min_share
        out = np.empty(len(X), dtype=np.int64)
        if known_like.any():
            out[known_like] = self._classify(X[known_like])
        if (~known_like).any():
            out[~known_like] = self._nearest_allowed(X[~known_like])
        return out
