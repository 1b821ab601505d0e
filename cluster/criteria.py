"""Scores of a clustering, and the rule that picks k from a curve of them.

Two cluster-count criteria are reported side by side (``<name>_k_scores.csv``):

- ``stability`` (:mod:`cluster.stability`), the default: the number of known classes plus the
  largest k at which KMeans clusters of the new-looking images (unlabeled images with few
  labeled neighbours) are reproducible across subsamples; computed on the samples, not per map;
- ``modularity``: the rule where no labels of two classes are given. Its k is the one whose
  clustering has the highest modularity (Newman 2006) on the samples' nearest-neighbour graph
  (:func:`knn_graph`, :func:`modularity`; a seeded subsample of at most 5,000 samples): the
  clusters that keep most neighbour links inside, against what their sizes would give by
  chance. On the quality suite's six sets without labels (4 seeds) k̂ within 1 of k on 18 of
  24 runs and mean NMI 0.575, where the silhouette of the same groupings (the largest k within
  one standard error of the best) gave 4 of 24 and 0.526 - its curve is nearly flat on image
  features and peaks at 2-4 clusters (docs/experiments.md, 2026-12-02 afternoon).

Calinski-Harabasz, Davies-Bouldin, the gap statistic, a U-matrix contrast and ``labeled`` (the
Hungarian accuracy on the labeled images, the default until 2026-11-27) were scored here as well
until 2026-12-02: on the quality suite's 18 labeled cells they put k within 1 of k on 3, 3, 5, 1
and 5 (stability on 14), none was a default, and together they took 1.3-1.9 s of a 2.4-5.5 s
fit (docs/experiments.md).
"""
from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from sklearn.neighbors import NearestNeighbors

CRITERIA = ("stability", "modularity")
GRAPH_NEIGHBOURS = 10               # links of each sample in the modularity graph
GRAPH_SAMPLES = 5000                # the graph is built on at most this many samples


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


def graph_rows(n_samples: int, seed: int, sample_size: int = GRAPH_SAMPLES) -> np.ndarray:
    """The seeded subsample of at most ``sample_size`` samples the graph is built on (sorted)."""
    return np.sort(np.random.default_rng(seed).permutation(n_samples)[:sample_size])


def knn_graph(X: np.ndarray, n_neighbours: int = GRAPH_NEIGHBOURS) -> sparse.csr_matrix:
    """The symmetric 0/1 adjacency of the ``n_neighbours``-nearest-neighbour graph of the rows
    of ``X`` (i and j linked when either is among the other's nearest; no row is linked to
    itself, even where identical rows make the search return it after a twin)."""
    n_neighbours = min(n_neighbours, len(X) - 1)
    _, nearest = NearestNeighbors(n_neighbors=n_neighbours + 1).fit(X).kneighbors(X)
    rows = np.repeat(np.arange(len(X)), n_neighbours + 1)
    others = rows != nearest.ravel()
    links = sparse.csr_matrix((np.ones(others.sum()), (rows[others], nearest.ravel()[others])),
                              shape=(len(X), len(X)))
    return ((links + links.T) > 0).astype(np.float64).tocsr()


def modularity(graph: sparse.csr_matrix, labels: np.ndarray) -> float:
    """Newman's modularity of the partition ``labels`` of the nodes of an undirected ``graph``:
    the share of links inside clusters minus the share expected from the clusters' degrees."""
    labels = np.unique(np.asarray(labels), return_inverse=True)[1]
    members = sparse.csr_matrix((np.ones(len(labels)), (np.arange(len(labels)), labels)))
    total = graph.sum()
    inside = (members.T @ graph @ members).diagonal() / total
    degrees = members.T @ np.asarray(graph.sum(axis=1)).ravel() / total
    return float(inside.sum() - (degrees ** 2).sum())


def modularity_k(ks: list[int], values: list[float | None]) -> int | None:
    """The k of the highest modularity (the larger k on a tie); None when no k has one."""
    scored = [(value, k) for k, value in zip(ks, values) if value is not None]
    return max(scored)[1] if scored else None
