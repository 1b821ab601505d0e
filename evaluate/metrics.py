"""Clustering scores against true labels: NMI, purity, ARI, Hungarian accuracy."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from cluster.criteria import hungarian_accuracy


def purity(y_true, y_pred) -> float:
    """Fraction of samples in their cluster's majority class."""
    table = contingency_matrix(y_true, y_pred)
    return float(table.max(axis=0).sum() / table.sum())


def score_all(y_true, y_pred) -> dict[str, float]:
    """NMI, purity, ARI and ACC of a clustering, plus the true and predicted k."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {"NMI": float(normalized_mutual_info_score(y_true, y_pred)),
            "purity": purity(y_true, y_pred),
            "ARI": float(adjusted_rand_score(y_true, y_pred)),
            "ACC": hungarian_accuracy(y_true, y_pred),
            "k_pred": int(len(np.unique(y_pred))), "k_true": int(len(np.unique(y_true)))}
