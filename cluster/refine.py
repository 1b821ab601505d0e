"""Refining a clustering on the samples: semi-supervised k-means with the labeled samples pinned.

The SOM groups prototypes, so every sample inherits its best-matching unit's cluster and the
cluster boundaries run along unit borders. A few k-means iterations on the samples themselves,
started from those clusters, move the boundaries to where the samples are (GCD's SS-k-means,
Vaze et al. 2022): each labeled sample stays in the cluster that holds most of its class, the
others go to the nearest cluster mean, until nothing changes.
"""
from __future__ import annotations

import numpy as np

from cluster.som import squared_distances


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
