"""Reference clusterings printed beside the pipeline's: pixels and features with KMeans at true k."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.preprocessing import normalize

from common.images import load_batch


def pixel_matrix(paths: Sequence[str | Path], side: int = 32, batch: int = 512) -> np.ndarray:
    """Images as flattened (N, side*side*3) float32 pixel rows in [0, 1]."""
    rows = [load_batch(paths[s:s + batch], side).reshape(len(paths[s:s + batch]), -1) / 255.0
            for s in range(0, len(paths), batch)]
    return np.concatenate(rows).astype(np.float32)


def pca_kmeans(X: np.ndarray, k: int, seed: int, n_components: int = 50,
               l2_normalise: bool = False) -> np.ndarray:
    """KMeans (n_init=10) with ``k`` clusters on the first ``n_components`` PCs of X."""
    X = normalize(X) if l2_normalise else X
    n_components = min(n_components, *X.shape)
    reduced = PCA(n_components, svd_solver="randomized", random_state=seed).fit_transform(X)
    return KMeans(k, n_init=10, random_state=seed).fit_predict(reduced)
