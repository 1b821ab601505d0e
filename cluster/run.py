"""Stage 04 over a run: cluster one feature set and write clusters + k-scores atomically."""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from cluster.clusterer import SOMClusterer
from cluster.features import FeaturePreparer
from common.atomic_io import atomic_write_bytes, atomic_write_csv


@dataclass(frozen=True)
class ClusterSettings:
    """Config keys of stage 04, built from config in one place (:meth:`from_config`)."""

    som_rows: int = 12
    som_cols: int = 12
    som_epochs: int = 20
    som_restarts: int = 3
    som_impl: str = "batch"
    feature_pca: int = 64
    grouping: str = "ward"
    k_min: int = 2
    k_max: int = 20
    criterion: str = "stability"
    anchor_share: float = 0.5
    refine_iter: int = 30
    labeled_per_class: int = 1000
    seed: int = 0

    @classmethod
    def from_config(cls, config: Any) -> "ClusterSettings":
        """The settings a run's config gives (keys SOM_*, FEATURE_PCA, K_*, ANCHOR_SHARE, ...)."""
        return cls(som_rows=config.SOM_ROWS, som_cols=config.SOM_COLS,
                   som_epochs=config.SOM_EPOCHS, som_restarts=config.SOM_RESTARTS,
                   som_impl=config.SOM_IMPL, feature_pca=config.FEATURE_PCA,
                   grouping=config.PROTOTYPE_GROUPING, k_min=config.K_MIN, k_max=config.K_MAX,
                   criterion=config.K_CRITERION, anchor_share=config.ANCHOR_SHARE,
                   refine_iter=config.REFINE_ITER,
                   labeled_per_class=config.CLUSTER_LABELED_PER_CLASS, seed=config.SEED)

    def preparer(self) -> FeaturePreparer:
        """An unfitted preparer (L2 normalisation + PCA) for these settings."""
        return FeaturePreparer(self.feature_pca, random_state=self.seed)

    def clusterer(self) -> SOMClusterer:
        """An unfitted SOMClusterer for these settings."""
        return SOMClusterer(self.som_rows, self.som_cols, self.som_epochs, k_min=self.k_min,
                            k_max=self.k_max, criterion=self.criterion, som_impl=self.som_impl,
                            grouping=self.grouping, n_restarts=self.som_restarts,
                            anchor_share=self.anchor_share, refine_iter=self.refine_iter,
                            max_labeled_per_class=self.labeled_per_class,
                            random_state=self.seed)


def known_labels(files: list[str], labels: Mapping[str, str], trainable: set[str]) -> np.ndarray:
    """Integer class of each file whose label may be used (trainable), -1 otherwise."""
    classes = sorted({labels[f] for f in files if f in trainable})
    return np.array([classes.index(labels[f]) if f in trainable else -1 for f in files])


def cluster_feature_set(features: np.ndarray, files: list[str], known: np.ndarray,
                        out_dir: str | Path, name: str, settings: ClusterSettings) -> dict:
    """Cluster ``features``; write ``<name>.csv`` (file, som_node, cluster),
    ``<name>_k_scores.csv`` and ``<name>_model.pkl`` (preparer + clusterer) into ``out_dir``."""
    out_dir = Path(out_dir)
    preparer = settings.preparer()
    model = settings.clusterer().fit(preparer.fit_transform(features), known)
    atomic_write_csv(out_dir / f"{name}.csv", ("file", "som_node", "cluster"),
                     zip(files, model.units_.tolist(), model.labels_.tolist()))
    criteria = list(model.scores_)
    atomic_write_csv(out_dir / f"{name}_k_scores.csv", ["k", *criteria],
                     [[k, *(f"{model.scores_[c][i]:.6g}" for c in criteria)]
                      for i, k in enumerate(model.k_range_)])
    atomic_write_bytes(out_dir / f"{name}_model.pkl",
                       pickle.dumps({"preparer": preparer, "clusterer": model}))
    return {"images": len(files), "n_clusters": model.n_clusters_,
            "criterion": model.criterion_used_, "k_by_criterion": model.k_by_criterion_,
            "quantization_error": float(getattr(model.som_, "quantization_error_", np.nan))}
