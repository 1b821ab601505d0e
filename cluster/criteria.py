"""Scores of a clustering over a range of k, and the rules that pick k from them.

Each k is scored by several criteria, reported side by side (``<name>_k_scores.csv``):

- ``silhouette`` (higher is better), on a seeded subsample of the samples: the rule where no
  labels of two classes are given;
- ``stability`` (:mod:`cluster.stability`): the number of known classes plus the largest k at
  which KMeans clusters of the new-looking images (unlabeled images with few labeled neighbours)
  are reproducible across subsamples; computed on the samples, not per map;
- ``labeled``: the Hungarian accuracy of the clustering on the images whose class is known
  (Generalized Category Discovery, Vaze et al. 2022): the k whose clusters best recover the known
  classes, while the unlabeled images - of known and unknown classes - are clustered with them.
  Splitting the unknown classes apart costs it nothing, so the largest k within two standard
  errors (at least ``LABELED_TOLERANCE``) of its best score is chosen, unless its silhouette
  drops more than ``SILHOUETTE_TOLERANCE`` below the best among those k.

Calinski-Harabasz, Davies-Bouldin, the gap statistic and a U-matrix contrast were scored here as
well until 2026-12-02: on the quality suite's 18 labeled cells they put k within 1 of k on 3, 3, 5
and 1 (stability 14), and they took 1.3-1.9 s of a 2.4-5.5 s fit (docs/experiments.md).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import silhouette_score

CRITERIA = ("labeled", "stability", "silhouette")
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
    raise ValueError(f"unknown criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")


def best_k(ks: list[int], scores: list[float]) -> int | None:
    """The k with the highest score (smallest k on ties); None when every score is NaN."""
    values = np.array(scores, dtype=float)
    if np.all(np.isnan(values)):
        return None
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

