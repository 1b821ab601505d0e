"""Scores of a clustering, and the rule that picks k from a curve of them.

Two cluster-count criteria are reported side by side (``<name>_k_scores.csv``):

- ``stability`` (:mod:`cluster.stability`), the default: the number of known classes plus the
  largest k at which KMeans clusters of the new-looking images (unlabeled images with few
  labeled neighbours) are reproducible across subsamples; computed on the samples, not per map;
- ``silhouette``, on a seeded subsample of the samples: the rule where no labels of two classes
  are given. Its k is the largest whose mean silhouette is within one standard error of the
  best k's (:func:`silhouette_k`).

Calinski-Harabasz, Davies-Bouldin, the gap statistic, a U-matrix contrast and ``labeled`` (the
Hungarian accuracy on the labeled images, the default until 2026-11-27) were scored here as well
until 2026-12-02: on the quality suite's 18 labeled cells they put k within 1 of k on 3, 3, 5, 1
and 5 (stability on 14), none was a default, and together they took 1.3-1.9 s of a 2.4-5.5 s
fit (docs/experiments.md).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import silhouette_samples

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


def silhouette_values(X: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
    """Silhouette of each sample of ``rows`` in the clustering of ``X[rows]`` (None for one
    cluster, or one sample a cluster)."""
    labels = np.asarray(labels)[rows]
    if not 2 <= len(np.unique(labels)) < len(rows):
        return None
    return silhouette_samples(X[rows], labels)


def silhouette_rows(n_samples: int, seed: int, sample_size: int = 3000) -> np.ndarray:
    """The seeded subsample of at most ``sample_size`` samples every k's silhouette is scored on."""
    rows = np.random.default_rng(seed).permutation(n_samples)[:sample_size]
    return np.sort(rows)


def silhouette_k(ks: list[int], values: list[np.ndarray | None]) -> int | None:
    """The largest k whose mean silhouette is within one standard error of the best k's (the
    standard error of the mean per-sample difference, paired over the same samples); None when
    no k has a silhouette.

    The one-standard-error rule (Breiman et al. 1984), leaning to more clusters: on image
    features the silhouette curve is nearly flat, and its maximum falls on 2-4 clusters where
    8-12 classes are (Fashion-MNIST: 0.216 at k = 2, 0.212 at 7); a cluster count too low costs
    far more than one too high (merging two clusters in a review is one click; NMI on the quality
    suite's sets without labels 0.43 at k = 2 for Fashion-MNIST's 10 classes, 0.67 at 10, 0.62 at
    20). Over the suite's sets without labels and 4 seeds: mean NMI 0.513 instead of 0.482 with
    the best k, k within 1 of k on 6 of 24 runs instead of 4 (docs/experiments.md, 2026-12-02).
    """
    scored = [(k, v) for k, v in zip(ks, values) if v is not None]
    if not scored:
        return None
    best = max(scored, key=lambda kv: (kv[1].mean(), -kv[0]))[1]
    within = [k for k, v in scored if (best - v).mean()
              <= np.nan_to_num((best - v).std(ddof=1) / np.sqrt(len(v))) + 1e-12]
    return max(within)
