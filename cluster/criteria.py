"""Scores of a clustering, and the rule that picks k from a curve of them.

Two cluster-count criteria are reported side by side (``<name>_k_scores.csv``):

- ``stability`` (:mod:`cluster.stability`), the default: the number of known classes plus the
  largest k at which KMeans clusters of the new-looking images (unlabeled images with few
  labeled neighbours) are reproducible across subsamples; computed on the samples, not per map;
- ``silhouette`` (higher is better), on a seeded subsample of the samples: the rule where no
  labels of two classes are given.

Calinski-Harabasz, Davies-Bouldin, the gap statistic, a U-matrix contrast and ``labeled`` (the
Hungarian accuracy on the labeled images, the default until 2026-11-27) were scored here as well
until 2026-12-02: on the quality suite's 18 labeled cells they put k within 1 of k on 3, 3, 5, 1
and 5 (stability on 14), none was a default, and together they took 1.3-1.9 s of a 2.4-5.5 s
fit (docs/experiments.md).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import silhouette_score

CRITERIA = ("stability", "silhouette")


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


def silhouette(X: np.ndarray, labels: np.ndarray, seed: int, sample_size: int = 3000) -> float:
    """Silhouette of a clustering of X on a seeded subsample (NaN for one cluster, or one sample
    a cluster)."""
    n_clusters = len(np.unique(labels))
    if not 2 <= n_clusters < len(X):
        return float("nan")
    return float(silhouette_score(X, labels, sample_size=min(sample_size, len(X)),
                                  random_state=seed))


def best_k(ks: list[int], scores: list[float]) -> int | None:
    """The k with the highest score (smallest k on ties); None when every score is NaN."""
    values = np.array(scores, dtype=float)
    if np.all(np.isnan(values)):
        return None
    return ks[int(np.nanargmax(values))]
