"""What a reviewer looks at first: near-duplicate images and the images farthest from their cluster.

Near-duplicates (the D2 competition's baseline removed them before clustering; fastdup and
clustimage list them too): pairs whose features' signed square roots - the clustering's measure
(:mod:`cluster.features`) - have a cosine similarity of at least ``min_cosine``, plus files that
are byte for byte identical, joined into groups. Candidates are found in a PCA of those rows,
L2-normalised (a projection's distances never exceed those of the rows it projects), and then
checked on the full rows, so no pair is missed and none is guessed.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import normalize

from cluster.features import signed_sqrt
from cluster.som import squared_distances

BLOCK_ELEMENTS = 2**24             # distances per block (64 MB): memory stays flat with n
CANDIDATE_DIMS = 64                # PCA components of the candidate search


def candidate_space(rows: np.ndarray, random_state: int = 0) -> np.ndarray:
    """The L2-normalised ``rows`` projected on their first :data:`CANDIDATE_DIMS` principal
    components (the rows themselves where they have no more dimensions than that)."""
    unit = normalize(rows)
    if min(unit.shape) <= CANDIDATE_DIMS:
        return unit
    return PCA(CANDIDATE_DIMS, svd_solver="randomized",
               random_state=random_state).fit_transform(unit).astype(np.float32)


def near_duplicate_pairs(features: np.ndarray, min_cosine: float,
                         random_state: int = 0) -> list[tuple[int, int]]:
    """Index pairs (i < j) whose ``features``' signed square roots have cosine >= ``min_cosine``,
    all of them: the candidates' distances in :func:`candidate_space` only shrink
    (``random_state``: its PCA's)."""
    features = signed_sqrt(np.asarray(features, np.float32))
    norms = np.sqrt(np.einsum("ij,ij->i", features, features))
    projected = candidate_space(features, random_state)
    limit = 2.0 - 2.0 * min_cosine                      # squared distance of unit vectors
    rows_per_block = max(1, BLOCK_ELEMENTS // max(len(projected), 1))
    pairs = []
    for start in range(0, len(projected), rows_per_block):
        block = projected[start:start + rows_per_block]
        near = squared_distances(block, projected[start:]) <= limit + 1e-6
        rows, cols = np.nonzero(np.triu(near, k=1))
        i, j = rows + start, cols + start
        cosine = np.einsum("ij,ij->i", features[i], features[j]) / np.maximum(
            norms[i] * norms[j], 1e-12)
        exact = cosine >= min_cosine
        pairs += list(zip(i[exact].tolist(), j[exact].tolist()))
    return pairs


def identical_file_pairs(paths: Sequence[Path]) -> list[tuple[int, int]]:
    """Index pairs of files with the same bytes (only files of equal size are hashed)."""
    by_size: dict[int, list[int]] = defaultdict(list)
    for index, path in enumerate(paths):
        if path.is_file():
            by_size[path.stat().st_size].append(index)
    pairs = []
    for same_size in by_size.values():
        by_digest: dict[str, list[int]] = defaultdict(list)
        for index in same_size if len(same_size) > 1 else ():
            by_digest[hashlib.sha256(paths[index].read_bytes()).hexdigest()].append(index)
        for members in by_digest.values():
            pairs += [(members[0], other) for other in members[1:]]
    return pairs


def groups_of(pairs: Sequence[tuple[int, int]], n: int) -> list[list[int]]:
    """Connected groups (two or more members, each sorted) of the graph the pairs make."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(i)] = root(j)
    members: dict[int, list[int]] = defaultdict(list)
    for i in sorted({i for pair in pairs for i in pair}):
        members[root(i)].append(i)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0])


def duplicate_groups(features: np.ndarray, paths: Sequence[Path], min_cosine: float,
                     random_state: int = 0) -> tuple[list[list[int]], set[int]]:
    """(groups of byte-identical files and of near-duplicates - :func:`near_duplicate_pairs`,
    skipped when ``min_cosine`` is 0 - joined; the members of the byte-identical groups)."""
    pairs = identical_file_pairs(paths)
    identical = {i for group in groups_of(pairs, len(paths)) for i in group}
    if min_cosine > 0:
        pairs += near_duplicate_pairs(features, min_cosine, random_state)
    return groups_of(pairs, len(paths)), identical


def distance_ratios(projected: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance of each row to its cluster's mean, that distance over the cluster's median)."""
    distance = np.zeros(len(labels), np.float64)
    ratio = np.zeros(len(labels), np.float64)
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        centre = projected[members].mean(axis=0, keepdims=True)
        distance[members] = np.sqrt(np.maximum(squared_distances(
            projected[members].astype(np.float64), centre.astype(np.float64))[:, 0], 0.0))
        ratio[members] = distance[members] / max(float(np.median(distance[members])), 1e-12)
    return distance, ratio
