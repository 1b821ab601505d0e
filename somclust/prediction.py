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
from extract.features import FEATURE_SETS, MODEL_FILES, combine_features
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


def _recorded(stage_dir: Path, stage: str) -> dict:
    """The config a finished stage ran with; a clear error when it has not run."""
    record = read_record(stage_dir, stage)
    if not record:
        raise SomclustError(f"{stage} has not finished in {stage_dir}: run {stage}.py for this "
                            "run first")
    return record["fingerprint"]


def expand_paths(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given; folders replaced by the images below them."""
    expanded = []
    for path in map(Path, paths):
        expanded.extend(list_images(path) if path.is_dir() else [path])
    return expanded


class ClusterPredictor:
    """A finished run's preprocessing, network and clustering, loaded once."""

    def __init__(self, work_dir: str | Path, run_dir: str | Path):
        import keras

        from finetune.backbones import feature_extractor

        work_dir, run_dir = Path(work_dir), Path(run_dir)
        background = _recorded(work_dir, "01_remove_background")
        extraction = _recorded(run_dir, "03_extract_features")
        clustering = _recorded(run_dir, "04_cluster")
        self.feature_names = FEATURE_SETS[clustering.get("FEATURE_SET", "finetuned")]
        model_paths = [run_dir / "model" / MODEL_FILES[name] for name in self.feature_names]
        for path in model_paths:
            if not path.exists():
                raise SomclustError(f"{path} not found: run 02_finetune.py and "
                                    "03_extract_features.py for this run first")
        self.background = BackgroundParams(background["BG_METHOD"], background["BG_WORK_SIZE"],
                                           background["BG_ITERATIONS"], background["BG_RECT_MARGIN"])
        self.removes_background = read_image_source(run_dir) == "removed"
        self.image_size = int(extraction["IMAGE_SIZE"])
        self.batch_size = int(extraction["EXTRACT_BATCH_SIZE"])
        precision = extraction.get("EXTRACT_PRECISION", "float32")
        self.extractors = [feature_extractor(keras.models.load_model(path),
                                             extraction["FEATURE_LAYER"], precision)
                           for path in model_paths]
        saved = pickle.loads((run_dir / "clusters_model.pkl").read_bytes())
        self.preparer, self.clusterer = saved["preparer"], saved["clusterer"]

    def _pixels(self, path: Path) -> np.ndarray:
        image = read_rgb(path)
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
            features = combine_features([np.asarray(e.predict_on_batch(batch_pixels), np.float32)
                                         for e in self.extractors])
            prepared = self.preparer.transform(features)
            nodes = self.clusterer.som_.predict(prepared)
            clusters = self.clusterer.predict(prepared)
            results.extend(Prediction(str(p), int(c), int(n))
                           for p, c, n in zip(usable, clusters, nodes))
        order = {printable_name(str(p)): i for i, p in enumerate(paths)}
        return sorted(results, key=lambda r: order[printable_name(r.path)])
