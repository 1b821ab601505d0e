"""Predicting the number of clusters by grouping SOM prototypes over a range of k.

For each k the prototypes are grouped (agglomerative Ward by default: nested partitions across k;
or hit-weighted KMeans) and every sample takes its BMU's group. Each k is scored by several criteria, reported side by side:

- ``silhouette`` (higher is better), ``calinski_harabasz`` (higher), ``davies_bouldin`` (lower),
  computed on the samples (silhouette on a seeded subsample);
- ``gap``: the gap statistic (Tibshirani et al. 2001): log within-cluster dispersion of uniform
  reference data in the principal-axes box (KMeans, a few draws) minus that of the clustering,
  on a seeded subsample; the smallest k with gap(k) >= gap(k+1) - s(k+1) is chosen;
- ``umatrix`` (SOM-aware, higher is better): the mean prototype distance across cluster
  boundaries on the SOM grid over the mean within clusters (4-neighbour edges, each weighted by
  the hits of its two units) - high when the boundaries follow the U-matrix's ridges through
  sparsely hit units rather than cutting through dense, smooth regions;
- ``stability`` (:mod:`cluster.stability`): the number of known classes plus the largest k at
  which KMeans clusters of the new-looking images (unlabeled images with few labeled neighbours)
  are reproducible across subsamples; computed on the samples, not per map;
- ``labeled``: the Hungarian accuracy of the clustering on the images whose class is known
  (Generalized Category Discovery, Vaze et al. 2022): the k whose clusters best recover the known
  classes, while the unlabeled images - of known and unknown classes - are clustered with them.
  Splitting the unknown classes apart costs it nothing, so the largest k within two standard
  errors (at least ``LABELED_TOLERANCE``) of its best score is chosen, unless its silhouette
  drops more than ``SILHOUETTE_TOLERANCE`` below the best among those k.

Label anchoring (``anchor_share`` > 0, with labeled images of two or more classes): the SOM units
rich in labeled images of a known class are tied together as that class's one cluster, and the
prototypes are grouped by a constrained Ward agglomeration in which two known classes never merge
(:func:`anchored_ward`): a known class with two distant modes (bags with and without handles) is
not split, two known classes are not merged, and the free units join a known class or form the
new ones. Every criterion then scores the anchored clusterings (k >= the number of known
classes), except ``labeled``, which keeps scoring the unconstrained grouping (with the known
classes tied it would be constant). ``grouping`` applies to the unconstrained grouping.

Refinement (``refine_iter`` > 0): the chosen clustering is refined on the samples by
semi-supervised k-means with the labeled samples pinned to their class's cluster
(:func:`cluster.refine.pinned_kmeans`); new samples then go to the nearest cluster mean. With
label anchoring as well, and labels dense enough for the labeled-share test
(:func:`cluster.refine.labeled_share_test_holds`), the refinement is open-set
(:class:`cluster.refine.OpenSetRefiner`):
unlabeled samples whose nearest neighbours hold at least ``anchor_share`` times the overall share
of labeled samples go to the known class a classifier on the labeled samples predicts, the
others only to the clusters that hold no known class; new samples are assigned the same way.

Many labeled images (``max_labeled_per_class``): the SOM, the criteria and the refinement are
fitted on every unlabeled sample and at most that many labeled samples of each known class (a
seeded draw; :func:`fitting_rows`); the other labeled samples are assigned like new ones. Without
the cap, 30,000 labeled images of 5 classes beside 10,000 to be clustered fill the map with the
known classes and k̂ collapses to their number.
"""
from __future__ import annotations

import logging

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.utils.validation import check_array, check_is_fitted

from cluster.refine import OpenSetRefiner, cluster_means, labeled_share_test_holds, pinned_kmeans
from cluster.som import BatchSOM, squared_distances
from cluster.stability import stability_k

LOG = logging.getLogger("somclust")
CRITERIA = ("labeled", "stability", "silhouette", "calinski_harabasz", "davies_bouldin", "gap",
            "umatrix")
LOWER_IS_BETTER = {"davies_bouldin"}
LABELED_TOLERANCE = 0.01
SILHOUETTE_TOLERANCE = 0.02


def hungarian_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Best one-to-one matching accuracy between true classes and predicted clusters."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        return float("nan")
    _, true_ids = np.unique(y_true, return_inverse=True)
    _, pred_ids = np.unique(y_pred, return_inverse=True)
    table = np.zeros((pred_ids.max() + 1, true_ids.max() + 1), dtype=np.int64)
    np.add.at(table, (pred_ids, true_ids), 1)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / y_true.size)


def group_prototypes(weights: np.ndarray, hits: np.ndarray, k: int, seed: int,
                     method: str = "ward") -> np.ndarray:
    """Cluster id (n_units,) of each prototype; units without hits join the nearest group.

    ``ward``: agglomerative Ward on the prototypes that won images - the partitions are nested
    across k, so the criteria change smoothly with k; ``kmeans``: KMeans weighted by hits.
    """
    alive = hits > 0
    k = min(k, int(alive.sum()))
    if method == "kmeans":
        model = KMeans(n_clusters=k, n_init=4, random_state=seed)
        model.fit(weights[alive], sample_weight=hits[alive])
        return model.predict(weights)
    if method != "ward":
        raise ValueError(f"grouping must be 'ward' or 'kmeans', got {method!r}")
    if k < 2:
        return np.zeros(len(weights), dtype=np.int64)
    groups = AgglomerativeClustering(k, linkage="ward").fit_predict(weights[alive])
    centres = np.stack([weights[alive][groups == g].mean(axis=0) for g in range(k)])
    distances = ((weights[:, None, :] - centres[None]) ** 2).sum(axis=-1)
    labels = distances.argmin(axis=1)
    labels[alive] = groups
    return labels


def anchor_units(units: np.ndarray, known: np.ndarray, n_units: int,
                 min_share: float) -> np.ndarray:
    """Known class tied to each SOM unit, -1 for free units.

    A unit is tied to the majority class of its labeled images when its share of labeled images
    is at least ``min_share`` times the share of labeled images over all samples: units of the
    known classes hold labeled and unlabeled images alike, units of unknown classes hold (almost)
    no labeled ones. Nothing is tied when ``min_share`` is 0 or fewer than two classes are known.
    """
    owner = np.full(n_units, -1, dtype=np.int64)
    labeled = known >= 0
    if min_share <= 0 or len(np.unique(known[labeled])) < 2:
        return owner
    hits = np.bincount(units, minlength=n_units)
    counts = np.zeros((n_units, int(known.max()) + 1))
    np.add.at(counts, (units[labeled], known[labeled]), 1)
    n_labeled = counts.sum(axis=1)
    tied = (n_labeled > 0) & (n_labeled >= min_share * labeled.mean() * hits)
    owner[tied] = counts[tied].argmax(axis=1)
    return owner


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


def anchored_ward(weights: np.ndarray, hits: np.ndarray, owner: np.ndarray,
                  ks: list[int]) -> dict[int, np.ndarray]:
    """Constrained Ward agglomeration of the SOM units: the units tied to one known class start
    as one cluster whatever their distance (GCD: a known class is one category), free units start
    alone, and two clusters holding different known classes never merge - free units of a known
    class join it, the rest form the new clusters. Returns {k: cluster id of each unit} for every
    k in ``ks`` the agglomeration passes through (at least one cluster per known class; the
    last partition when it reaches none of them); units without hits join the cluster of the
    nearest unit that has one."""
    alive = np.flatnonzero(hits > 0)
    classes = np.unique(owner[alive][owner[alive] >= 0])
    members = [alive[owner[alive] == c].tolist() for c in classes]
    members += [[unit] for unit in alive[owner[alive] < 0]]
    holds_class = np.array([True] * len(classes) + [False] * (len(members) - len(classes)))
    sizes = np.array([len(m) for m in members], dtype=np.float64)
    centres = np.stack([weights[m].mean(axis=0) for m in members]).astype(np.float64)
    active = np.ones(len(members), dtype=bool)

    def costs(i: int) -> np.ndarray:
        """Ward merge cost of cluster i with every cluster (inf where not allowed)."""
        cost = sizes[i] * sizes / (sizes[i] + sizes) * ((centres - centres[i]) ** 2).sum(axis=1)
        cost[~active | (holds_class & holds_class[i])] = np.inf
        cost[i] = np.inf
        return cost

    table = np.stack([costs(i) for i in range(len(members))])
    nearest = ((weights[:, None, :] - weights[alive][None]) ** 2).sum(axis=-1).argmin(axis=1)
    nearest[alive] = np.arange(len(alive))       # (identical prototypes: each keeps its own)
    partitions = {}
    wanted = set(ks)
    while True:
        count = int(active.sum())
        flat = int(np.argmin(table))
        last = count <= min(wanted) or not np.isfinite(table.flat[flat])
        if count in wanted or (last and not partitions):
            cluster_of = np.empty(len(weights), dtype=np.int64)
            for label, index in enumerate(np.flatnonzero(active)):
                cluster_of[members[index]] = label
            partitions[count] = cluster_of[alive][nearest]
        if last:
            return partitions
        i, j = sorted(divmod(flat, len(members)))
        centres[i] = (sizes[i] * centres[i] + sizes[j] * centres[j]) / (sizes[i] + sizes[j])
        sizes[i] += sizes[j]
        members[i] += members[j]
        holds_class[i] |= holds_class[j]
        active[j] = False
        table[j, :] = table[:, j] = np.inf
        table[i, :] = table[:, i] = costs(i)


def _log_dispersion(X: np.ndarray, labels: np.ndarray) -> float:
    """log of the summed squared distances of samples to their cluster means."""
    total = 0.0
    for label in np.unique(labels):
        members = X[labels == label]
        total += float(((members - members.mean(axis=0)) ** 2).sum())
    return float(np.log(max(total, 1e-12)))


class GapReference:
    """Uniform reference samples in the principal-axes bounding box of X (one subsample of X
    is scored against them for every k)."""

    def __init__(self, X: np.ndarray, seed: int, sample_size: int = 2000, n_refs: int = 5):
        rng = np.random.default_rng(seed)
        self.rows = np.sort(rng.choice(len(X), min(sample_size, len(X)), replace=False))
        sample = X[self.rows].astype(np.float64)
        centred = sample - sample.mean(axis=0)
        _, _, axes = np.linalg.svd(centred, full_matrices=False)
        projected = centred @ axes.T
        low, high = projected.min(axis=0), projected.max(axis=0)
        self.references = [rng.uniform(low, high, size=projected.shape) @ axes
                           for _ in range(n_refs)]
        self.seed = seed
        self._reference_logs: dict[int, np.ndarray] = {}     # k -> log dispersions, reused

    def gap(self, X: np.ndarray, labels: np.ndarray, k: int) -> tuple[float, float]:
        """(gap(k), s(k)) of the clustering ``labels`` of X."""
        if k not in self._reference_logs:
            self._reference_logs[k] = np.array([
                _log_dispersion(ref, KMeans(k, n_init=1, random_state=self.seed).fit_predict(ref))
                for ref in self.references])
        reference_logs = self._reference_logs[k]
        sd = float(reference_logs.std() * np.sqrt(1 + 1 / len(reference_logs)))
        observed = _log_dispersion(X[self.rows].astype(np.float64), labels[self.rows])
        return float(reference_logs.mean() - observed), sd


def best_k_gap(ks: list[int], gaps: list[float], sds: list[float]) -> int | None:
    """Smallest k with gap(k) >= gap(k+1) - s(k+1); the largest gap if none qualifies."""
    values = np.array(gaps, dtype=float)
    if np.all(np.isnan(values)):
        return None
    for i in range(len(ks) - 1):
        if values[i] >= values[i + 1] - sds[i + 1]:
            return ks[i]
    return ks[int(np.nanargmax(values))]


def umatrix_contrast(weights: np.ndarray, hits: np.ndarray, unit_clusters: np.ndarray,
                     n_rows: int, n_cols: int) -> float:
    """SOM-aware criterion: hit-weighted mean distance between grid-neighbour prototypes in
    different clusters over that between neighbours in the same cluster (NaN when either set of
    edges is empty). An edge weighs sqrt((hits_a + 1) * (hits_b + 1)): cutting between two busy
    units costs more than cutting through empty interpolating units."""
    grid = np.asarray(weights, np.float64).reshape(n_rows, n_cols, -1)
    groups = np.asarray(unit_clusters).reshape(n_rows, n_cols)
    density = np.asarray(hits, np.float64).reshape(n_rows, n_cols) + 1.0
    sums = {True: [0.0, 0.0], False: [0.0, 0.0]}      # same cluster -> [weighted distance, weight]
    for axis in (0, 1):
        first = [slice(None)] * 2
        second = [slice(None)] * 2
        first[axis], second[axis] = slice(None, -1), slice(1, None)
        distance = np.linalg.norm(grid[tuple(second)] - grid[tuple(first)], axis=-1)
        weight = np.sqrt(density[tuple(first)] * density[tuple(second)])
        same = groups[tuple(first)] == groups[tuple(second)]
        for flag in (True, False):
            sums[flag][0] += float((distance * weight)[same == flag].sum())
            sums[flag][1] += float(weight[same == flag].sum())
    if min(sums[True][1], sums[False][1]) <= 0 or sums[True][0] <= 0:
        return float("nan")
    return (sums[False][0] / sums[False][1]) / (sums[True][0] / sums[True][1])


def score_clustering(X: np.ndarray, labels: np.ndarray, criterion: str, known: np.ndarray,
                     seed: int, sample_size: int = 3000) -> float:
    """One criterion's score of a sample clustering (NaN where undefined)."""
    if len(np.unique(labels)) < 2:
        return float("nan")
    if criterion == "labeled":
        mask = known >= 0
        return hungarian_accuracy(known[mask], labels[mask]) if mask.any() else float("nan")
    if criterion == "silhouette":
        return float(silhouette_score(X, labels, sample_size=min(sample_size, len(X)),
                                      random_state=seed))
    if criterion == "calinski_harabasz":
        return float(calinski_harabasz_score(X, labels))
    if criterion == "davies_bouldin":
        return float(davies_bouldin_score(X, labels))
    raise ValueError(f"unknown criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")


def best_k(ks: list[int], scores: list[float], criterion: str) -> int | None:
    """The k with the best score (smallest k on ties); None when every score is NaN."""
    values = np.array(scores, dtype=float)
    if np.all(np.isnan(values)):
        return None
    values = -values if criterion in LOWER_IS_BETTER else values
    return ks[int(np.nanargmax(values))]


def best_k_labeled(ks: list[int], labeled: list[float], silhouette: list[float],
                   n_labeled: int) -> int | None:
    """The largest k whose labeled score is within two standard errors (at least
    LABELED_TOLERANCE) of the best, unless its silhouette is more than SILHOUETTE_TOLERANCE below
    the best silhouette among those k.

    Splitting the unknown classes apart costs the known ones nothing, so the largest k that
    recovers the known classes as well (up to the noise of an accuracy measured on
    ``n_labeled`` images) is the best guess for how many classes there are in all - as long as
    it does not cut through a well-separated group (the silhouette would drop).
    """
    values = np.array(labeled, dtype=float)
    if np.all(np.isnan(values)) or n_labeled < 1:
        return None
    best = np.nanmax(values)
    tolerance = max(LABELED_TOLERANCE, 2 * np.sqrt(best * (1 - best) / n_labeled))
    admissible = np.flatnonzero(values >= best - tolerance)
    shapes = np.nan_to_num(np.array(silhouette, dtype=float)[admissible], nan=-1.0)
    kept = admissible[shapes >= shapes.max() - SILHOUETTE_TOLERANCE]
    return ks[int(kept.max())]


def _mean_over_maps(curves: list[list[float]]) -> list[float]:
    """Each k's score averaged over the maps where it is defined (NaN where it never is)."""
    values = np.array(curves, dtype=float)
    defined = (~np.isnan(values)).sum(axis=0)
    return np.where(defined > 0, np.nansum(values, axis=0) / np.maximum(defined, 1),
                    np.nan).tolist()


class SOMClusterer(ClusterMixin, BaseEstimator):
    """SOM, then prototype grouping with the number of clusters predicted.

    ``fit(X, y)`` takes optional known labels ``y`` (int, -1 = unknown) used by the 'labeled'
    criterion and by label anchoring (``anchor_share`` > 0: see the module docstring); when
    fewer than two known classes are given, 'labeled' falls back to 'silhouette' and nothing is
    anchored.
    With ``n_restarts`` > 1, that many SOMs are trained (seeds random_state, +1, ...); every
    criterion's score is averaged over them before k is chosen - k̂ no longer follows one map's
    initialisation - and the map with the lowest quantization error gives the clusters.

    With ``max_labeled_per_class`` > 0, the fit uses every unlabeled sample and at most that many
    labeled samples of each class (see the module docstring); ``labels_`` still covers every
    sample.

    Attributes: ``som_`` (the fitted BatchSOM or MiniSom wrapper that gives the clusters),
    ``n_clusters_`` (predicted k), ``labels_``, ``units_`` (best-matching SOM unit of each
    sample), ``unit_clusters_`` (cluster of each SOM unit), ``fit_rows_`` (the samples fitted on),
    ``scores_`` ({criterion: scores over ``k_range_``, averaged over the restarts}),
    ``k_by_criterion_`` ({criterion: its best k}), ``criterion_used_``, ``refiner_`` (the
    fitted :class:`~cluster.refine.OpenSetRefiner`, or None when it did not run).
    """

    def __init__(self, n_rows: int = 10, n_cols: int = 10, n_epochs: int = 10, k_min: int = 2,
                 k_max: int = 20, criterion: str = "labeled", som_impl: str = "batch",
                 grouping: str = "ward", n_restarts: int = 1, anchor_share: float = 0.0,
                 refine_iter: int = 0, max_labeled_per_class: int = 0,
                 random_state: int | None = None):
        self.n_rows = n_rows
        self.n_cols = n_cols
        self.n_epochs = n_epochs
        self.k_min = k_min
        self.k_max = k_max
        self.criterion = criterion
        self.som_impl = som_impl
        self.grouping = grouping
        self.n_restarts = n_restarts
        self.anchor_share = anchor_share
        self.refine_iter = refine_iter
        self.max_labeled_per_class = max_labeled_per_class
        self.random_state = random_state

    def _make_som(self, seed: int):
        if self.som_impl == "batch":
            return BatchSOM(self.n_rows, self.n_cols, n_epochs=self.n_epochs, random_state=seed)
        if self.som_impl == "minisom":
            from cluster.minisom_adapter import MiniSomEstimator

            return MiniSomEstimator(self.n_rows, self.n_cols, n_epochs=self.n_epochs,
                                    random_state=seed)
        raise ValueError(f"som_impl must be 'batch' or 'minisom', got {self.som_impl!r}")

    def _score_map(self, som, X: np.ndarray, known: np.ndarray, ks: list[int],
                   criteria: list[str], reference: GapReference, seed: int):
        """({criterion: scores over ks}, gap standard errors, {k: unit clusters}) of one map."""
        units = som.labels_
        hits = np.bincount(units, minlength=self.n_rows * self.n_cols).astype(np.float64)
        owner = anchor_units(units, known, self.n_rows * self.n_cols, self.anchor_share)
        scores, gap_sds, groupings = {c: [] for c in criteria}, [], {}
        anchored = anchored_ward(som.weights_, hits, owner, ks) if (owner >= 0).any() else None
        groupings.update(anchored or {})
        for k in ks:
            unconstrained = group_prototypes(som.weights_, hits, k, seed, self.grouping)
            reachable = anchored is None or k in anchored
            if anchored is None:
                groupings[k] = unconstrained
            unit_clusters = groupings.get(k)
            for criterion in criteria:
                if criterion == "labeled":    # how well the grouping recovers the known classes
                    scores[criterion].append(
                        score_clustering(X, unconstrained[units], criterion, known, seed))
                elif not reachable:     # fewer clusters than known classes, or more than units
                    scores[criterion].append(float("nan"))
                    if criterion == "gap":
                        gap_sds.append(float("nan"))
                elif criterion == "umatrix":
                    scores["umatrix"].append(umatrix_contrast(
                        som.weights_, hits, unit_clusters, self.n_rows, self.n_cols))
                elif criterion == "gap":
                    gap, sd = reference.gap(X, unit_clusters[units], k)
                    scores["gap"].append(gap)
                    gap_sds.append(sd)
                else:
                    scores[criterion].append(
                        score_clustering(X, unit_clusters[units], criterion, known, seed))
        return scores, gap_sds, groupings

    def fit(self, X, y=None) -> "SOMClusterer":
        """Train the SOM(s), score every k in [k_min, k_max], keep the criterion's best."""
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, got {self.criterion!r}")
        if not 2 <= self.k_min <= self.k_max:
            raise ValueError(f"need 2 <= k_min <= k_max, got k_min={self.k_min}, k_max={self.k_max}")
        if not isinstance(self.n_restarts, (int, np.integer)) or self.n_restarts < 1:
            raise ValueError(f"n_restarts must be a positive integer, got {self.n_restarts!r}")
        if not isinstance(self.anchor_share, (int, float)) or not self.anchor_share >= 0:
            raise ValueError(f"anchor_share must be a number >= 0, got {self.anchor_share!r}")
        if not isinstance(self.refine_iter, (int, np.integer)) or self.refine_iter < 0:
            raise ValueError(f"refine_iter must be an integer >= 0, got {self.refine_iter!r}")
        if (not isinstance(self.max_labeled_per_class, (int, np.integer))
                or self.max_labeled_per_class < 0):
            raise ValueError("max_labeled_per_class must be an integer >= 0 (0 = all), got "
                             f"{self.max_labeled_per_class!r}")
        X = check_array(X, dtype=np.float32, ensure_min_samples=3)
        known = np.full(len(X), -1) if y is None else np.asarray(y, dtype=np.int64)
        if known.shape != (len(X),):
            raise ValueError(f"y must have one label per sample ({len(X)}), got shape {known.shape}")
        seed = 0 if self.random_state is None else int(self.random_state)
        self.fit_rows_ = fitting_rows(known, self.max_labeled_per_class, seed)
        X_all, X, known = X, X[self.fit_rows_], known[self.fit_rows_]
        self.criterion_used_ = self.criterion
        if self.criterion == "labeled" and len(np.unique(known[known >= 0])) < 2:
            LOG.warning("K_CRITERION=labeled needs labeled images of >= 2 classes among the "
                        "clustered ones; using silhouette instead")
            self.criterion_used_ = "silhouette"
        soms = [self._make_som(seed + restart).fit(X) for restart in range(self.n_restarts)]
        alive = min(int((np.bincount(som.labels_) > 0).sum()) for som in soms)
        self.k_range_ = list(range(self.k_min, max(self.k_min, min(self.k_max, alive)) + 1))
        criteria = [c for c in CRITERIA
                    if c != "stability" and (c != "labeled" or (known >= 0).any())]
        reference = GapReference(X, seed)
        maps = [self._score_map(som, X, known, self.k_range_, criteria, reference, seed)
                for som in soms]
        self.scores_ = {c: _mean_over_maps([m[0][c] for m in maps]) for c in criteria}
        gap_sds = _mean_over_maps([m[1] for m in maps])
        self.k_by_criterion_ = {c: best_k(self.k_range_, s, c) for c, s in self.scores_.items()}
        self.k_by_criterion_["gap"] = best_k_gap(self.k_range_, self.scores_["gap"], gap_sds)
        self.k_by_criterion_["stability"], self.scores_["stability"] = stability_k(
            X, known, self.k_range_, seed)
        if "labeled" in self.scores_:
            self.k_by_criterion_["labeled"] = best_k_labeled(
                self.k_range_, self.scores_["labeled"], self.scores_["silhouette"],
                int((known >= 0).sum()))
        chosen = self.k_by_criterion_.get(self.criterion_used_) or self.k_range_[0]
        best_map = int(np.argmin([som.quantization_error_ for som in soms]))
        self.som_ = soms[best_map]
        groupings = maps[best_map][2]      # anchored: only the k the agglomeration reached
        chosen = min(groupings, key=lambda k: (abs(k - chosen), -k))
        self.unit_clusters_ = groupings[chosen]
        fitted = self.unit_clusters_[self.som_.labels_]
        self.refiner_ = None
        open_set = (self.anchor_share > 0 and len(np.unique(known[known >= 0])) > 1
                    and labeled_share_test_holds(known >= 0, int(fitted.max()) + 1))
        if self.refine_iter and open_set:
            self.refiner_ = OpenSetRefiner(self.anchor_share, self.refine_iter).fit(
                X, fitted, known)
            fitted, self.cluster_centers_ = self.refiner_.labels_, self.refiner_.cluster_centers_
            LOG.info("open-set refinement: %d unlabeled images assigned to a known class, %d "
                     "to the others", self.refiner_.known_like_.sum(),
                     ((known < 0) & ~self.refiner_.known_like_).sum())
            self.unit_clusters_ = self.refiner_.predict(self.som_.weights_)
        elif self.refine_iter:
            fitted, self.cluster_centers_ = pinned_kmeans(X, fitted, known, self.refine_iter)
            self.unit_clusters_ = self._nearest_centre(self.som_.weights_)
        else:
            self.cluster_centers_ = cluster_means(X, fitted, int(fitted.max()) + 1)[0]
        self.units_, self.labels_ = self.som_.labels_, fitted
        if len(self.fit_rows_) < len(X_all):    # the labeled samples left out: like new ones
            self.units_, self.labels_ = self.som_.predict(X_all), self.predict(X_all)
            self.labels_[self.fit_rows_] = fitted
        self.n_clusters_ = int(len(np.unique(self.labels_)))
        return self

    def _nearest_centre(self, X: np.ndarray) -> np.ndarray:
        """Index of the cluster centre nearest each row of ``X``."""
        distances = squared_distances(np.asarray(X, dtype=np.float64), self.cluster_centers_)
        return distances.argmin(axis=1)

    def predict(self, X) -> np.ndarray:
        """Cluster of each sample: as the open-set refinement assigns it when that ran, the
        nearest cluster centre when refined otherwise, else the cluster of its best-matching SOM
        unit."""
        check_is_fitted(self, "unit_clusters_")
        X = check_array(X, dtype=np.float32)
        if getattr(self, "refiner_", None) is not None:
            return self.refiner_.predict(X)
        if self.refine_iter:
            return self._nearest_centre(X)
        return self.unit_clusters_[self.som_.predict(X)]
