"""Feature preparation before the SOM: L2 normalisation, then PCA; neighbour averaging."""
from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize


class FeaturePreparer:
    """L2-normalise rows, then project on ``n_components`` principal components (0 = keep all)."""

    def __init__(self, n_components: int = 64, random_state: int | None = None):
        self.n_components = n_components
        self.random_state = random_state

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        X = normalize(np.asarray(X, dtype=np.float32))
        limit = min(X.shape)
        if self.n_components and self.n_components < limit:
            self.pca_ = PCA(self.n_components, svd_solver="randomized",
                            random_state=self.random_state).fit(X)
            return self.pca_.transform(X).astype(np.float32)
        self.pca_ = None
        return X

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = normalize(np.asarray(X, dtype=np.float32))
        return X if self.pca_ is None else self.pca_.transform(X).astype(np.float32)


def neighbour_average(X: np.ndarray, reference: np.ndarray, n_neighbours: int,
                      *, within: bool = False) -> np.ndarray:
    """Each row of ``X`` averaged with the mean of its ``n_neighbours`` nearest rows of
    ``reference`` (equal weights: (x + neighbour mean) / 2), float32. ``within``: ``X`` is
    ``reference`` itself, and a row is not its own neighbour. ``X`` unchanged for 0 neighbours or
    too small a reference.

    A transductive denoising step (a one-step feature propagation over the k-nearest-neighbour
    graph of all images): images of one class pull together where the features scatter them,
    which helps the clustering of classes the network was never trained on."""
    n_neighbours = min(n_neighbours, len(reference) - int(within))
    if n_neighbours < 1:
        return np.asarray(X, dtype=np.float32)
    index = NearestNeighbors(n_neighbors=n_neighbours).fit(reference)
    neighbours = index.kneighbors(None if within else X, return_distance=False)
    return ((X + reference[neighbours].mean(axis=1)) / 2).astype(np.float32)
