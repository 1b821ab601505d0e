"""MiniSom (the reference implementation) behind the same estimator interface as BatchSOM."""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_array, check_is_fitted


class MiniSomEstimator(BaseEstimator):
    """MiniSom's ``train_batch`` for ``n_epochs`` passes; exposes ``weights_`` (n_units, D)
    row-major like BatchSOM, ``labels_`` and ``quantization_error_``."""

    def __init__(self, n_rows: int = 10, n_cols: int = 10, n_epochs: int = 1,
                 sigma: float | None = None, learning_rate: float = 0.5,
                 random_state: int | None = None):
        self.n_rows = n_rows
        self.n_cols = n_cols
        self.n_epochs = n_epochs
        self.sigma = sigma
        self.learning_rate = learning_rate
        self.random_state = random_state

    def fit(self, X, y=None) -> "MiniSomEstimator":
        from minisom import MiniSom

        X = check_array(X, dtype=np.float32, ensure_min_samples=2)
        sigma = self.sigma or max(self.n_rows, self.n_cols) / 2.0
        som = MiniSom(self.n_rows, self.n_cols, X.shape[1], sigma=sigma,
                      learning_rate=self.learning_rate, random_seed=self.random_state)
        som.pca_weights_init(X)
        som.train_batch(X, self.n_epochs * len(X))
        self.minisom_ = som
        self.weights_ = som.get_weights().reshape(self.n_rows * self.n_cols, -1).astype(np.float32)
        self.labels_ = self.predict(X)
        self.quantization_error_ = float(som.quantization_error(X))
        return self

    def predict(self, X) -> np.ndarray:
        """Index of the best-matching unit of each sample."""
        check_is_fitted(self, "weights_")
        X = check_array(X, dtype=np.float32)
        distances = (np.einsum("ij,ij->i", self.weights_, self.weights_)[None, :]
                     - 2.0 * X @ self.weights_.T)
        return distances.argmin(axis=1)
