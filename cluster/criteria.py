"""The cluster count, and the scores of a clustering it rests on.

The number of clusters is the k whose grouping has the highest modularity (Newman 2006) on the
samples' nearest-neighbour graph (:func:`knn_graph`, :func:`modularity`; a seeded subsample of at
most 5,000 samples): the clusters that keep most neighbour links inside, against what their
sizes would give by chance. It reads no labels, so it counts the same way with labels or without
(with labels, the anchored groupings it scores start at the number of known classes).

On the quality suite's six sets without labels (4 seeds) it put k̂ within 1 of k on 18 of 24
runs (mean NMI 0.575), where the silhouette of the same groupings gave 4 of 24 (0.526). With
labels it replaced the ``stability`` count (the known classes plus the reproducible KMeans
clusters of the new-looking images, its level calibrated on the known classes): on the suite's
18 labeled cells (fine-tuning seeds 0 and 1, 8 stage-04 seeds each), NMI on the unlabeled
images 0.621 / 0.638 / 0.670 at 10 / 30 / 50 % labeled against 0.610 / 0.634 / 0.665, at least
both baselines on 34 of 36 cells against 30, k̂ within 1 on 199 of 288 runs against 224
(docs/experiments.md, 2026-12-02 evening). Calinski-Harabasz, Davies-Bouldin, the gap statistic,
a U-matrix contrast, the silhouette and the Hungarian accuracy on the labeled images were tried
and removed before.

With labels, the modularity's clustering is then read by its labeled shares
(:func:`labeled_share_count`): a new class merged into a known one lowers that cluster's share of
labeled images, which the graph cannot see where the two lie close (on the glyphs, A and M inside
K's cluster). On the suite's 54 labeled cells (fine-tuning seeds 0-2, 8 stage-04 seeds each) it
puts k̂ within 1 on 313 of 432 runs against 289 (28 runs gained, 4 lost; mean |k̂ - k| 1.25 ->
1.03), NMI on the unlabeled images -0.0007 (p = 0.36); on ``benchmarks/k_accuracy.py`` (labels
drawn image by image) every set stays within 1. Without the binomial test it put 337 runs within
1 (NMI +0.0024) - the suite labels exactly the same share of every known class - but split pure
classes where the labeled counts vary by chance (Gaussian blobs, k = 20: 24) or by design
(docs/experiments.md, 2026-12-03). Tried on the recorded curves and left out: the modularity curve
averaged over 2-8 SOM seeds (288-299 runs within 1), a resolution parameter 0.8-1.5 (217-293).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from scipy.stats import binom
from sklearn.neighbors import NearestNeighbors

from cluster.refine import pinned_clusters

GRAPH_NEIGHBOURS = 10               # links of each sample in the modularity graph
GRAPH_SAMPLES = 5000                # the graph is built on at most this many samples
SHARE_TEST_LEVEL = 0.01             # chance that the labeled draw's luck alone makes any one
                                    # known class's cluster count more than one class


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


def graph_takes_all(n_samples: int) -> bool:
    """Whether the graph of ``n_samples`` samples is built on every one (no subsample)."""
    return n_samples <= GRAPH_SAMPLES


def knn_graph(X: np.ndarray, n_neighbours: int = GRAPH_NEIGHBOURS,
              nearest: np.ndarray | None = None) -> sparse.csr_matrix:
    """The symmetric 0/1 adjacency of the ``n_neighbours``-nearest-neighbour graph of the rows
    of ``X`` (i and j linked when either is among the other's nearest; no row is linked to
    itself, even where identical rows make the search return it after a twin). ``nearest``: the
    indices of each row's nearest rows of ``X`` already searched (itself included, nearest
    first, at least ``n_neighbours`` + 1 columns: :func:`cluster.features.nearest_rows`)."""
    n_neighbours = min(n_neighbours, len(X) - 1)
    if nearest is None:
        _, nearest = NearestNeighbors(n_neighbors=n_neighbours + 1).fit(X).kneighbors(X)
    nearest = nearest[:, :n_neighbours + 1]
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


def modularity_k(modularities: Mapping[int, float]) -> int:
    """The k of the highest modularity in ``{k: modularity}`` (the larger k on a tie)."""
    return max((value, k) for k, value in modularities.items())[1]


def labeled_share_count(labels: np.ndarray, known: np.ndarray) -> int | None:
    """The number of classes a clustering holds, read from its known classes' labeled shares;
    None when fewer than two clusters are a known class's (``known``: class of each labeled
    sample, -1 for the others).

    The labeled samples are a random draw from the known classes, so a cluster that is one
    known class holds about the same share of labeled samples as the others; a cluster with m
    times fewer holds about m classes (a new class merged into a known one). Each known class's
    cluster (the one holding most of its labeled samples, :func:`pinned_clusters`) counts its
    size x the median labeled share of those clusters / its labeled count, rounded, at least 1;
    each other cluster counts 1 (also one holding a few strays of a known class, as clusters do
    before any refinement). A known class's cluster counts 1 as well where its labeled count is
    one a pure class draws often enough (a binomial test at ``SHARE_TEST_LEVEL`` over all of
    them): labels drawn image by image vary from class to class by chance."""
    labels, known = np.asarray(labels), np.asarray(known)
    sizes = np.bincount(labels)
    marked = np.bincount(labels[known >= 0], minlength=len(sizes))
    holds = np.zeros(len(sizes), dtype=bool)
    holds[pinned_clusters(labels, known)[known >= 0]] = True
    if holds.sum() < 2:
        return None
    share = np.median(marked[holds] / sizes[holds])
    classes = np.maximum(1, np.round(sizes[holds] * share / marked[holds]))
    by_chance = binom.cdf(marked[holds], sizes[holds], share) >= SHARE_TEST_LEVEL / holds.sum()
    classes[by_chance] = 1
    return int(classes.sum() + (~holds & (sizes > 0)).sum())


def nearest_k(modularities: Mapping[int, float], wanted: int) -> int:
    """The k of ``{k: modularity}`` nearest ``wanted`` (of two as near, the higher modularity)."""
    return min(modularities, key=lambda k: (abs(k - wanted), -modularities[k]))
