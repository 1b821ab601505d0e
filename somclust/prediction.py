"""Assign new images to the clusters of a finished run.

The images go through exactly what the run's images went through: background removal with the
settings stage 01 recorded, the fine-tuned network at the image size and layer stage 03 recorded,
then the saved feature preparer, SOM and unit-to-cluster mapping of stage 04.
"""
from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from tqdm import tqdm

from common.errors import ImageReadError, SomclustError
from common.images import list_images, name_problem, printable_name, read_rgb, resize_square
from common.stage import read_record
from extract.features import (FEATURE_SETS, MODEL_FILES, clustered_feature_set, combine_features,
                              load_feature_set)
from extract.runtime import openvino_predictor
from finetune.image_source import read_image_source
from preprocess.background import BackgroundParams, apply_mask, foreground_mask

LOG = logging.getLogger("somclust")


@dataclass(frozen=True)
class Prediction:
    """Where one image went; ``cluster`` is -1 and ``error`` says why when it was unusable."""

    path: str
    cluster: int
    som_node: int = -1
    error: str = ""
    distance: float = float("nan")    # to the cluster's centre, in the clustering's feature space
    novel: bool = False               # farther than nearly all of the cluster's own images


def _finished(stage_dir: Path, stage: str) -> dict:
    """The record of a finished stage (its config under "fingerprint"); a clear error when it
    has not run."""
    record = read_record(stage_dir, stage)
    if not record:
        raise SomclustError(f"{stage} has not finished in {stage_dir}: run {stage}.py for this "
                            "run first")
    return record


def expand_paths(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given; folders replaced by the images below them."""
    expanded = []
    for path in map(Path, paths):
        expanded.extend(list_images(path) if path.is_dir() else [path])
    return expanded


class ClusterPredictor:
    """A finished run's preprocessing, network and clustering, loaded once."""

    def __init__(self, work_dir: str | Path, run_dir: str | Path,
                 novelty_percentile: float = 99.0):
        import keras

        from finetune.backbones import feature_extractor

        work_dir, run_dir = Path(work_dir), Path(run_dir)
        background = _finished(work_dir, "01_remove_background")["fingerprint"]
        extracted = _finished(run_dir, "03_extract_features")
        extraction, parts = extracted["fingerprint"], extracted.get("summary", {})
        feature_set = clustered_feature_set(_finished(run_dir, "04_cluster"))
        self.feature_names = FEATURE_SETS[feature_set]
        model_paths = [run_dir / "model" / MODEL_FILES[name] for name in self.feature_names]
        for path in model_paths:
            if not path.exists():
                raise SomclustError(f"{path} not found: run 02_finetune.py and "
                                    "03_extract_features.py for this run first")
        self.background = BackgroundParams(background["BG_METHOD"], background["BG_WORK_SIZE"],
                                           background["BG_ITERATIONS"], background["BG_RECT_MARGIN"])
        self.max_side = int(background.get("WORK_MAX_SIDE", 0))   # 0 in runs made before it
        self.removes_background = read_image_source(run_dir) == "removed"
        self.image_size = int(extraction["IMAGE_SIZE"])
        self.batch_size = int(extraction["EXTRACT_BATCH_SIZE"])
        converted = {name: part.get("openvino_model", "") for name, part in parts.items()}
        precision = {name: part.get("precision", extraction.get("EXTRACT_PRECISION", "float32"))
                     for name, part in parts.items()}    # as run (its config may say "auto")
        self.predictors = [   # on the runtime stage 03 used: the same features for the same image
            openvino_predictor(run_dir / converted[name], precision[name])
            if converted.get(name) and (run_dir / converted[name]).exists() else
            feature_extractor(keras.models.load_model(path), extraction["FEATURE_LAYER"],
                              precision.get(name, "float32")).predict_on_batch
            for name, path in zip(self.feature_names, model_paths)]
        saved = pickle.loads((run_dir / "clusters_model.pkl").read_bytes())
        self.preparer, self.clusterer = saved["preparer"], saved["clusterer"]
        self.novelty_limits = self._novelty_limits(
            run_dir, feature_set, novelty_percentile)

    def _distances(self, features: np.ndarray,
                   prepared: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cluster, distance to that cluster's centre, SOM unit) of feature rows (``prepared``:
        the same rows through the run's preparer). The distance is taken in the L2-normalised
        feature space: the distance within the PCA space the clusters live in (after the run's
        neighbour averaging, :meth:`cluster.clusterer.SOMClusterer.average`), and the part of the
        row that PCA space leaves out (an image unlike the run's lands near the middle of the PCA
        space, but little of it lies in that space)."""
        averaged = self.clusterer.average(prepared)
        clusters = self.clusterer.vote(prepared, self.clusterer.assign(averaged))
        nodes = self.clusterer.som_.predict(averaged)
        centres = np.asarray(self.clusterer.cluster_centers_)[clusters]
        within = np.linalg.norm(np.asarray(averaged, np.float64) - centres, axis=1)
        pca = getattr(self.preparer, "pca_", None)
        if pca is None:
            return clusters, within, nodes
        normalised = np.asarray(features, np.float64)
        normalised /= np.maximum(np.linalg.norm(normalised, axis=1, keepdims=True), 1e-12)
        left_out = np.linalg.norm(normalised - pca.inverse_transform(prepared), axis=1)
        return clusters, np.hypot(within, left_out), nodes

    def _novelty_limits(self, run_dir: Path, feature_set: str, percentile: float) -> np.ndarray:
        """Per cluster, the ``percentile`` of its own images' distances to its centre, taken as one
        of those distances (so a small cluster's limit is its farthest member); inf for an empty
        cluster, or everywhere when ``percentile`` is 0."""
        n_clusters = len(self.clusterer.cluster_centers_)
        if percentile <= 0:
            return np.full(n_clusters, np.inf)
        features, _ = load_feature_set(run_dir / "features", feature_set)
        clusters, distances, _ = self._distances(features, self.preparer.transform(features))
        return np.array([np.percentile(distances[clusters == c], percentile, method="higher")
                         if (clusters == c).any() else np.inf for c in range(n_clusters)])

    def _pixels(self, path: Path) -> np.ndarray:
        image = read_rgb(path, self.max_side)
        if self.removes_background:         # as the run's network saw its images (stage 02)
            image = apply_mask(image, foreground_mask(image, self.background),
                               self.background.fill_value)
        return resize_square(image, self.image_size).astype(np.float32)

    def predict(self, paths: Sequence[str | os.PathLike]) -> list[Prediction]:
        """One Prediction per image (folders are expanded), in order."""
        paths = expand_paths(paths)
        results: list[Prediction] = []
        for start in tqdm(range(0, len(paths), self.batch_size), desc="predict", unit="batch",
                          disable=len(paths) <= self.batch_size):
            batch, pixels = paths[start:start + self.batch_size], []
            usable = []
            for path in batch:
                problem = name_problem(str(path))
                if problem:                  # such a name cannot be written to the CSV
                    LOG.warning("skipped %s: %s", printable_name(str(path)), problem)
                    results.append(Prediction(printable_name(str(path)), -1, error=problem))
                    continue
                try:
                    pixels.append(self._pixels(path))
                    usable.append(path)
                except ImageReadError as error:
                    LOG.warning("skipped %s: %s", path, error)
                    results.append(Prediction(str(path), -1, error=str(error)))
            if not usable:
                continue
            batch_pixels = np.stack(pixels)
            features = combine_features([np.asarray(predict(batch_pixels), np.float32)
                                         for predict in self.predictors])
            clusters, distances, nodes = self._distances(features,
                                                         self.preparer.transform(features))
            results.extend(Prediction(str(p), int(c), int(n), distance=float(d),
                                      novel=bool(d > self.novelty_limits[c]))
                           for p, c, n, d in zip(usable, clusters, nodes, distances))
        order = {printable_name(str(p)): i for i, p in enumerate(paths)}
        return sorted(results, key=lambda r: order[printable_name(r.path)])
