"""Feature preparation before the SOM: signed square root, L2 normalisation, then PCA;
neighbour averaging."""
from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

SAME_ROW_DISTANCE = 1e-5           # a row this close to a reference row is that row


def signed_sqrt(X: np.ndarray) -> np.ndarray:
    """sign(x) * sqrt(|x|) of every value, float32 (power normalisation)."""
    X = np.asarray(X, dtype=np.float32)
    return np.sign(X) * np.sqrt(np.abs(X))


class FeaturePreparer:
    """Signed square root of every value, L2-normalised rows, then ``n_components`` principal
    components (0 = keep all).

    The square root (power normalisation: Perronnin et al. 2010; RootSIFT, Arandjelovic and
    Zisserman 2012) evens out pooled CNN activations, where a few strong channels would
    otherwise dominate the distances: on the quality suite (stage 04 on the cached default
    features, seeds 0-3) mean NMI on the unlabeled images 0.605 / 0.640 / 0.663 against
    0.583 / 0.630 / 0.649, k within 1 of k on 58 of 72 runs against 52 (docs/experiments.md,
    2026-12-02 night)."""

    def __init__(self, n_components: int = 64, random_state: int | None = None):
        self.n_components = n_components
        self.random_state = random_state

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        self.signed_sqrt_ = True
        X = self._unit_rows(X)
        limit = min(X.shape)
        if self.n_components and self.n_components < limit:
            self.pca_ = PCA(self.n_components, svd_solver="randomized",
                            random_state=self.random_state).fit(X)
            return self.pca_.transform(X).astype(np.float32)
        self.pca_ = None
        return X

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``X`` prepared as the fitted rows were."""
        X = self._unit_rows(X)
        return X if self.pca_ is None else self.pca_.transform(X).astype(np.float32)

    def _unit_rows(self, X: np.ndarray) -> np.ndarray:
        """Rows square-rooted and L2-normalised (a preparer saved before the square root was
        added - no ``signed_sqrt_`` - only normalises)."""
        X = np.asarray(X, dtype=np.float32)
        return normalize(signed_sqrt(X) if getattr(self, "signed_sqrt_", False) else X)


def nearest_rows(X: np.ndarray, n_neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """(distances, indices), nearest first, of the ``n_neighbours`` + 1 nearest rows of ``X`` to
    each row of ``X`` (itself among them; at most every row): one search that the neighbour
    averaging, the count's graph and the neighbour vote of the same rows can share."""
    X = np.asarray(X, dtype=np.float32)
    n_neighbours = max(0, min(n_neighbours, len(X) - 1))
    return NearestNeighbors(n_neighbors=n_neighbours + 1, algorithm="brute").fit(X).kneighbors(X)


def neighbour_average(X: np.ndarray, reference: np.ndarray, n_neighbours: int,
                      search: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Each row of ``X`` averaged with the mean of its ``n_neighbours`` nearest rows of
    ``reference`` (equal weights: (x + neighbour mean) / 2), float32. A row that is itself in
    ``reference`` (distance ~0) is not its own neighbour, so averaging the fitted rows again gives
    what the fit gave. ``X`` unchanged for 0 neighbours or a reference of one row. ``search``:
    the (distances, indices) of ``X`` among ``reference`` already searched, nearest first, with
    at least ``n_neighbours`` + 1 columns (:func:`nearest_rows` when ``X`` is ``reference``).

    A transductive denoising step (a one-step feature propagation over the k-nearest-neighbour
    graph of all images): images of one class pull together where the features scatter them,
    which helps the clustering of classes the network was never trained on."""
    X = np.asarray(X, dtype=np.float32)
    n_neighbours = min(n_neighbours, len(reference) - 1)
    if n_neighbours < 1:
        return X
    if search is None:
        search = NearestNeighbors(n_neighbors=n_neighbours + 1).fit(reference).kneighbors(X)
    distances, nearest = search[0][:, :n_neighbours + 1], search[1][:, :n_neighbours + 1]
    itself = distances[:, :1] <= SAME_ROW_DISTANCE
    neighbours = np.where(itself, nearest[:, 1:], nearest[:, :-1])
    return ((X + reference[neighbours].mean(axis=1)) / 2).astype(np.float32)
