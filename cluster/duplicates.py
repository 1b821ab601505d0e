"""What a reviewer looks at first: near-duplicate images and the images farthest from their cluster.

Near-duplicates (the D2 competition's baseline removed them before clustering; fastdup and
clustimage list them too): pairs whose features have a cosine similarity of at least
``min_cosine``, plus files that are byte for byte identical, joined into groups. Candidates are
found in the clustering's PCA space, whose distances never exceed those of the L2-normalised
features, and then checked on the full features, so no pair is missed and none is guessed.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from cluster.som import squared_distances

BLOCK_ELEMENTS = 2**24             # distances per block (64 MB): memory stays flat with n


def near_duplicate_pairs(features: np.ndarray, projected: np.ndarray,
                         min_cosine: float) -> list[tuple[int, int]]:
    """Index pairs (i < j) whose ``features`` have cosine >= ``min_cosine``; ``projected`` are
    the same rows after L2 normalisation and a PCA (distances only shrink)."""
    features = np.asarray(features, np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", features, features))
    projected = np.asarray(projected, np.float32)
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


def duplicate_groups(features: np.ndarray, projected: np.ndarray, paths: Sequence[Path],
                     min_cosine: float) -> tuple[list[list[int]], set[int]]:
    """(groups of byte-identical files and of near-duplicates - :func:`near_duplicate_pairs`,
    skipped when ``min_cosine`` is 0 - joined; the members of the byte-identical groups)."""
    pairs = identical_file_pairs(paths)
    identical = {i for group in groups_of(pairs, len(paths)) for i in group}
    if min_cosine > 0:
        pairs += near_duplicate_pairs(features, projected, min_cosine)
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
