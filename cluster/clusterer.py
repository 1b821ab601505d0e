"""SOMClusterer: a SOM, its prototypes grouped over a range of k, k predicted, then refined.

The SOM's prototypes are grouped for every k by :mod:`cluster.grouping` (with label anchoring,
the anchored clusterings: k >= the number of known classes); k is that of the grouping with the
highest modularity on the samples' nearest-neighbour graph (:mod:`cluster.criteria`), with labels
or without. With labels, that clustering (refined and voted, as below) is read once more: where
its clusters' labeled shares say it holds more classes
(:func:`cluster.criteria.labeled_share_count`: a new class merged into a known one lowers that
cluster's share), the grouping at that count is refined and voted instead.

Refinement (``refine_iter`` > 0): the chosen clustering is refined on the samples by
semi-supervised k-means with the labeled samples pinned to their class's cluster
(:func:`cluster.refine.pinned_kmeans`); new samples then go to the nearest cluster mean. With
label anchoring as well, and labels dense enough for the labeled-share test
(:func:`cluster.refine.labeled_share_test_holds`), the refinement is open-set
(:class:`cluster.refine.OpenSetRefiner`):
unlabeled samples whose nearest neighbours hold at least ``anchor_share`` times the overall share
of labeled samples go to the known class a classifier on the labeled samples predicts, the
others only to the clusters that hold no known class; new samples are assigned the same way.

Neighbour vote (``vote_rounds`` > 0): last, each sample takes the cluster most of its nearest
samples (on the count's graph) and itself are in, round after round (:mod:`cluster.vote`);
a new sample gets one such vote among its nearest fitted samples. The cluster centres and each
SOM unit's cluster then follow the voted clusters.

Neighbour averaging (``smooth_neighbours`` > 0): before the SOM, each sample is averaged with
its nearest samples (:func:`cluster.features.neighbour_average`); the count's graph is still
built on the features as given, and new samples are averaged with their nearest fitted samples.
The averaging, the count's graph and the vote share one nearest-neighbour search of the fitted
samples (100,000 rows: 25 s instead of 43 s for the whole fit).

Many labeled images (``max_labeled_per_class``): the SOM, the count and the refinement are
fitted on every unlabeled sample and at most that many labeled samples of each known class (a
seeded draw; :func:`fitting_rows`); the other labeled samples are assigned like new ones. Without
the cap, 30,000 labeled images of 5 classes beside 10,000 to be clustered fill the map with the
known classes and k̂ collapses to their number.
"""
from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from cluster.criteria import (GRAPH_NEIGHBOURS, graph_rows, graph_takes_all, knn_graph,
                              labeled_share_count, modularity, modularity_k, nearest_k)
from cluster.features import nearest_rows, neighbour_average
from cluster.grouping import anchor_units, anchored_ward, group_prototypes
from cluster.refine import OpenSetRefiner, cluster_means, labeled_share_test_holds, pinned_kmeans
from cluster.som import BatchSOM, squared_distances
from cluster.vote import NeighbourVote, plurality

LOG = logging.getLogger("somclust")


def fitting_rows(known: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of every unlabeled sample (``known`` < 0) and of at most ``per_class``
    samples of each known class (a seeded draw; every sample when ``per_class`` is 0)."""
    keep = known < 0
    rng = np.random.default_rng(seed)
    for label in np.unique(known[known >= 0]):
        members = np.flatnonzero(known == label)
        if 0 < per_class < len(members):
            members = rng.choice(members, per_class, replace=False)
        keep[members] = True
    return np.flatnonzero(keep)



class SOMClusterer(ClusterMixin, BaseEstimator):
    """SOM, then prototype grouping with the number of clusters predicted.

    ``fit(X, y)`` takes optional known labels ``y`` (int, -1 = unknown) used by label anchoring
    (``anchor_share`` > 0: see the module docstring) and the refinement; with fewer than two known
    classes nothing is anchored.

    With ``max_labeled_per_class`` > 0, the fit uses every unlabeled sample and at most that many
    labeled samples of each class (see the module docstring); ``labels_`` still covers every
    sample.

    Attributes: ``som_`` (the fitted BatchSOM or MiniSom wrapper that gives the clusters),
    ``n_clusters_`` (predicted k), ``labels_``, ``units_`` (best-matching SOM unit of each
    sample), ``unit_clusters_`` (cluster of each SOM unit), ``fit_rows_`` (the samples fitted on),
    ``k_range_`` and ``modularity_`` (the modularity of each k's grouping, NaN for a k the
    anchored grouping does not reach), ``modularity_k_`` (the k of the highest modularity),
    ``grouping_k_`` (the k of the grouping the clusters come from: the labeled shares' count,
    else ``modularity_k_``), ``refiner_`` (the fitted
    :class:`~cluster.refine.OpenSetRefiner`, or None when it did not run), ``vote_`` (the fitted
    :class:`~cluster.vote.NeighbourVote`, or None).
    """

    def __init__(self, n_rows: int = 10, n_cols: int = 10, n_epochs: int = 10, *, k_min: int = 2,
                 k_max: int = 20, som_impl: str = "batch",
                 anchor_share: float = 0.0,
                 refine_iter: int = 0, vote_rounds: int = 0, max_labeled_per_class: int = 0,
                 smooth_neighbours: int = 0, random_state: int | None = None):
        self.n_rows = n_rows
        self.n_cols = n_cols
        self.n_epochs = n_epochs
        self.k_min = k_min
        self.k_max = k_max
        self.som_impl = som_impl
        self.anchor_share = anchor_share
        self.refine_iter = refine_iter
        self.vote_rounds = vote_rounds
        self.max_labeled_per_class = max_labeled_per_class
        self.smooth_neighbours = smooth_neighbours
        self.random_state = random_state

    def _make_som(self, seed: int):
        if self.som_impl == "batch":
            return BatchSOM(self.n_rows, self.n_cols, n_epochs=self.n_epochs, random_state=seed)
        if self.som_impl == "minisom":
            from cluster.minisom_adapter import MiniSomEstimator

            return MiniSomEstimator(self.n_rows, self.n_cols, n_epochs=self.n_epochs,
                                    random_state=seed)
        raise ValueError(f"som_impl must be 'batch' or 'minisom', got {self.som_impl!r}")

    def _groupings(self, known: np.ndarray) -> dict[int, np.ndarray]:
        """{k: cluster of each SOM unit} of the fitted map: with units tied to known classes the
        anchored agglomeration (only the k from the number of known classes up), else Ward."""
        units, n_units = self.som_.labels_, self.n_rows * self.n_cols
        hits = np.bincount(units, minlength=n_units).astype(np.float64)
        owner = anchor_units(units, known, n_units, self.anchor_share)
        if (owner >= 0).any():
            return anchored_ward(self.som_.weights_, hits, owner, self.k_range_)
        return {k: group_prototypes(self.som_.weights_, hits, k) for k in self.k_range_}

    def _modularities(self, X: np.ndarray, groupings: dict[int, np.ndarray], seed: int,
                      nearest: np.ndarray | None) -> dict[int, float]:
        """{k: modularity of that grouping} on the nearest-neighbour graph of a seeded subsample
        of the samples ``X`` as given (not averaged); ``nearest`` (each sample's nearest samples,
        :func:`nearest_rows`) serves when the subsample is every sample."""
        rows = graph_rows(len(X), seed)
        graph = (knn_graph(X, nearest=nearest) if nearest is not None and graph_takes_all(len(X))
                 else knn_graph(X[rows]))
        units = self.som_.labels_[rows]
        return {k: modularity(graph, clusters[units]) for k, clusters in groupings.items()}

    def _shared_search(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """One nearest-neighbour search of the samples ``X`` among themselves for the averaging,
        the count's graph (when it takes every sample) and the vote; None when none needs it."""
        if self.smooth_neighbours or self.vote_rounds or graph_takes_all(len(X)):
            return nearest_rows(X, max(self.smooth_neighbours, GRAPH_NEIGHBOURS))
        return None

    def fit(self, X, y=None) -> "SOMClusterer":
        """Train the SOM, group its units for every k in [k_min, k_max], keep the k of the
        highest modularity, or with labels the labeled shares' count where it differs."""
        if not 2 <= self.k_min <= self.k_max:
            raise ValueError(f"need 2 <= k_min <= k_max, got k_min={self.k_min}, k_max={self.k_max}")
        if not isinstance(self.anchor_share, (int, float)) or not self.anchor_share >= 0:
            raise ValueError(f"anchor_share must be a number >= 0, got {self.anchor_share!r}")
        if not isinstance(self.refine_iter, (int, np.integer)) or self.refine_iter < 0:
            raise ValueError(f"refine_iter must be an integer >= 0, got {self.refine_iter!r}")
        if not isinstance(self.vote_rounds, (int, np.integer)) or self.vote_rounds < 0:
            raise ValueError(f"vote_rounds must be an integer >= 0, got {self.vote_rounds!r}")
        if (not isinstance(self.max_labeled_per_class, (int, np.integer))
                or self.max_labeled_per_class < 0):
            raise ValueError("max_labeled_per_class must be an integer >= 0 (0 = all), got "
                             f"{self.max_labeled_per_class!r}")
        if not isinstance(self.smooth_neighbours, (int, np.integer)) or self.smooth_neighbours < 0:
            raise ValueError("smooth_neighbours must be an integer >= 0 (0 = off), got "
                             f"{self.smooth_neighbours!r}")
        X = validate_data(self, X, dtype=np.float32, ensure_min_samples=3)
        known = np.full(len(X), -1) if y is None else np.asarray(y, dtype=np.int64)
        if known.shape != (len(X),):
            raise ValueError(f"y must have one label per sample ({len(X)}), got shape {known.shape}")
        seed = 0 if self.random_state is None else int(self.random_state)
        self.fit_rows_ = fitting_rows(known, self.max_labeled_per_class, seed)
        X_all, X_given, known = X, X[self.fit_rows_], known[self.fit_rows_]
        self.smoothing_reference_ = X_given
        search = self._shared_search(X_given)
        X = neighbour_average(X_given, X_given, self.smooth_neighbours, search)
        nearest = None if search is None else search[1]
        self.som_ = self._make_som(seed).fit(X)
        alive = int((np.bincount(self.som_.labels_) > 0).sum())
        top = min(self.k_max, alive, len(X) - 1)     # n clusters of n samples say nothing
        self.k_range_ = list(range(self.k_min, max(self.k_min, top) + 1))
        groupings = self._groupings(known)
        modularities = self._modularities(X_given, groupings, seed, nearest)
        self.modularity_ = [modularities.get(k, float("nan")) for k in self.k_range_]
        self.modularity_k_ = modularity_k(modularities)
        fitted = self._settle(X, X_given, groupings[self.modularity_k_], known, nearest)
        count = labeled_share_count(fitted, known)
        self.grouping_k_ = self.modularity_k_ if count is None else nearest_k(modularities, count)
        if self.grouping_k_ != self.modularity_k_:
            LOG.info("labeled shares: %d classes where the highest modularity gave %d clusters; "
                     "k = %d", count, self.modularity_k_, self.grouping_k_)
            fitted = self._settle(X, X_given, groupings[self.grouping_k_], known, nearest)
        self.units_, self.labels_ = self.som_.labels_, fitted
        if len(self.fit_rows_) < len(X_all):    # the labeled samples left out: like new ones
            self.units_, self.labels_ = self._with_left_out(X_all, fitted)
        self.n_clusters_ = int(len(np.unique(self.labels_)))
        return self

    def _settle(self, X: np.ndarray, X_given: np.ndarray, unit_clusters: np.ndarray,
                known: np.ndarray, nearest: np.ndarray | None) -> np.ndarray:
        """The cluster of each fitted sample from the SOM units' clusters ``unit_clusters``:
        refined and voted (``refine_iter``, ``vote_rounds``); sets ``unit_clusters_``,
        ``cluster_centers_``, ``refiner_`` and ``vote_``."""
        self.unit_clusters_ = unit_clusters
        fitted = self.unit_clusters_[self.som_.labels_]
        self.refiner_ = None
        open_set = (self.anchor_share > 0 and len(np.unique(known[known >= 0])) > 1
                    and labeled_share_test_holds(known >= 0, int(fitted.max()) + 1))
        if self.refine_iter and open_set:
            self.refiner_ = OpenSetRefiner(self.anchor_share, self.refine_iter).fit(
                X, fitted, known)
            fitted, self.cluster_centers_ = self.refiner_.labels_, self.refiner_.cluster_centers_
            self.unit_clusters_ = self.refiner_.predict(self.som_.weights_)
        elif self.refine_iter:
            fitted, self.cluster_centers_ = pinned_kmeans(X, fitted, known, self.refine_iter)
            self.unit_clusters_ = self._nearest_centre(self.som_.weights_)
        else:
            self.cluster_centers_ = cluster_means(X, fitted, int(fitted.max()) + 1)[0]
        self.vote_ = None
        if self.vote_rounds:
            self.vote_ = NeighbourVote(max_rounds=self.vote_rounds).fit(X_given, fitted,
                                                                        known >= 0, nearest)
            fitted = self.vote_.labels_
            means, counts = cluster_means(X, fitted, len(self.cluster_centers_))
            self.cluster_centers_ = np.where(counts[:, None] > 0, means, self.cluster_centers_)
            self.unit_clusters_ = plurality(self.som_.labels_, fitted, self.unit_clusters_)
        return fitted

    def _with_left_out(self, X_all: np.ndarray, fitted: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        """(units, labels) of every sample of ``X_all``: the fitted ones' as fitted, the
        left-out ones' assigned like new samples (averaged, assigned, voted)."""
        left_out = np.ones(len(X_all), dtype=bool)
        left_out[self.fit_rows_] = False
        X_new = X_all[left_out]
        averaged = self.average(X_new)
        units = np.empty(len(X_all), dtype=np.int64)
        labels = np.empty(len(X_all), dtype=np.int64)
        units[self.fit_rows_], labels[self.fit_rows_] = self.som_.labels_, fitted
        units[left_out] = self.som_.predict(averaged)
        labels[left_out] = self.vote(X_new, self.assign(averaged))
        return units, labels

    def average(self, X: np.ndarray) -> np.ndarray:
        """``X`` averaged with its nearest fitted samples, as the fit averaged them: the space the
        SOM and the cluster centres live in (``X`` itself without ``smooth_neighbours``, or for a
        model saved before it existed)."""
        if not getattr(self, "smooth_neighbours", 0):
            return np.asarray(X, dtype=np.float32)
        return neighbour_average(X, self.smoothing_reference_, self.smooth_neighbours)

    def _nearest_centre(self, X: np.ndarray) -> np.ndarray:
        """Index of the cluster centre nearest each row of ``X``."""
        distances = squared_distances(np.asarray(X, dtype=np.float64), self.cluster_centers_)
        return distances.argmin(axis=1)

    def predict(self, X) -> np.ndarray:
        """Cluster of each sample, once averaged with its nearest fitted samples
        (``smooth_neighbours``): as the open-set refinement assigns it when that ran, the nearest
        cluster centre when refined otherwise, else the cluster of its best-matching SOM unit;
        then the neighbour vote (``vote_rounds``)."""
        check_is_fitted(self, "unit_clusters_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return self.vote(X, self.assign(self.average(X)))

    def vote(self, X: np.ndarray, clusters: np.ndarray) -> np.ndarray:
        """``clusters`` of the samples ``X`` (as given, not averaged) after the neighbour vote
        among the fitted samples; unchanged without it (or for a model saved before it)."""
        vote = getattr(self, "vote_", None)
        return np.asarray(clusters) if vote is None else vote.predict(X, clusters)

    def assign(self, X: np.ndarray) -> np.ndarray:
        """The cluster of each sample of ``X``, already averaged (:meth:`average`), before the
        neighbour vote (:meth:`vote`)."""
        if getattr(self, "refiner_", None) is not None:
            return self.refiner_.predict(X)
        if self.refine_iter:
            return self._nearest_centre(X)
        return self.unit_clusters_[self.som_.predict(X)]
