"""Grouping SOM prototypes into k clusters, free or anchored to the known classes.

For each k the prototypes are grouped by agglomerative Ward (nested partitions across k) and every
sample takes its BMU's group. (Hit-weighted KMeans was an option until 2026-12-02: with label
anchoring it only scored a criterion since removed, and the quality suite gave the same clusters.)

Label anchoring (``anchor_share`` > 0, with labeled images of two or more classes): the SOM units
rich in labeled images of a known class are tied together as that class's one cluster
(:func:`anchor_units`), and the prototypes are grouped by a constrained Ward agglomeration in
which two known classes never merge (:func:`anchored_ward`): a known class with two distant modes
(bags with and without handles) is not split, two known classes are not merged, and the free
units join a known class or form the new ones.
"""
from __future__ import annotations

import numpy as np
from sklearn.cluster import AgglomerativeClustering


def group_prototypes(weights: np.ndarray, hits: np.ndarray, k: int) -> np.ndarray:
    """Cluster id (n_units,) of each prototype by agglomerative Ward on the prototypes that won
    images (the partitions are nested across k, so the criteria change smoothly with k); units
    without hits join the nearest group."""
    alive = hits > 0
    k = min(k, int(alive.sum()))
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
