"""Stage 04 over a run: cluster one feature set and write clusters + k-scores atomically."""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Mapping

import numpy as np

from cluster.features import FeaturePreparer
from cluster.n_clusters import SOMClusterer
from common.atomic_io import atomic_write_bytes, atomic_write_csv


def known_labels(files: list[str], labels: Mapping[str, str], trainable: set[str]) -> np.ndarray:
    """Integer class of each file whose label may be used (trainable), -1 otherwise."""
    classes = sorted({labels[f] for f in files if f in trainable})
    return np.array([classes.index(labels[f]) if f in trainable else -1 for f in files])


def cluster_feature_set(features: np.ndarray, files: list[str], known: np.ndarray,
                        out_dir: str | Path, name: str, n_rows: int, n_cols: int, n_epochs: int,
                        n_components: int, k_min: int, k_max: int, criterion: str,
                        som_impl: str, seed: int, grouping: str = "ward",
                        n_restarts: int = 1, anchor_share: float = 0.0,
                        refine_iter: int = 0, max_labeled_per_class: int = 0) -> dict:
    """Cluster ``features``; write ``<name>.csv`` (file, som_node, cluster),
    ``<name>_k_scores.csv`` and ``<name>_model.pkl`` (preparer + clusterer) into ``out_dir``."""
    out_dir = Path(out_dir)
    preparer = FeaturePreparer(n_components, random_state=seed)
    prepared = preparer.fit_transform(features)
    model = SOMClusterer(n_rows, n_cols, n_epochs, k_min, k_max, criterion, som_impl, grouping,
                         n_restarts, anchor_share, refine_iter, max_labeled_per_class,
                         random_state=seed).fit(prepared, known)
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
