"""Scores of a clustering over a range of k, and the rules that pick k from them.

Each k is scored by several criteria, reported side by side (``<name>_k_scores.csv``):

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
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

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
    if len(np.unique(labels)) >= len(X):     # one sample a cluster: the scores are undefined
        return float("nan")
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


def mean_over_maps(curves: list[list[float]]) -> list[float]:
    """Each k's score averaged over the maps where it is defined (NaN where it never is)."""
    values = np.array(curves, dtype=float)
    defined = (~np.isnan(values)).sum(axis=0)
    return np.where(defined > 0, np.nansum(values, axis=0) / np.maximum(defined, 1),
                    np.nan).tolist()
