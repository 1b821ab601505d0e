"""Feature preparation before the SOM: L2 normalisation, then PCA."""
from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
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
