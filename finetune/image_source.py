"""Which images the network sees: the background-removed ones or the raw ones, chosen by labels.

Background removal helps where objects stand on cluttered backgrounds and hurts where there is
no object to cut out (scenes, textures) or the background is already plain (icons, glyphs, scans:
GrabCut can only cut into the object). With ``BG_METHOD=auto``, stage 02 asks the labeled images:
the pretrained network's features of both versions of a seeded draw of them are compared by
leave-one-out k-nearest-neighbour accuracy (how well the known classes separate before any
training, so neither version is favoured by fine-tuning); the removed images are used only when
they do clearly better (:func:`clearly_better`: removal loses information unless it measurably
helps) - by fine-tuning, extraction and prediction. Without labeled images of 2 classes there is
no evidence, and the raw images are used. With ``BG_METHOD=grabcut`` the removed images are
always used.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from common.atomic_io import atomic_write_json
from common.errors import SomclustError
from common.run_index import ImageRecord

SOURCE_FILE = "image_source.json"          # in RUN_DIR/model: {"source": ..., "accuracy": ...}
SOURCES = ("removed", "raw")
NEIGHBOURS = 5
PER_CLASS = 100                            # labeled images per class compared (a seeded draw)


def neighbour_votes(features: np.ndarray, labels: Sequence, k: int = NEIGHBOURS) -> np.ndarray:
    """Whether each row's class wins the leave-one-out vote of its k nearest other rows (cosine
    similarity; ties go to the nearest neighbour's class): a boolean array."""
    X = np.asarray(features, dtype=np.float64)
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    _, y = np.unique(np.asarray(labels), return_inverse=True)
    k = min(k, len(X) - 1)
    if k < 1:
        return np.zeros(len(X), dtype=bool)
    similarity = X @ X.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = np.argsort(-similarity, axis=1)[:, :k]
    votes = np.zeros((len(X), y.max() + 1))
    np.add.at(votes, (np.repeat(np.arange(len(X)), k), y[nearest].ravel()),
              np.tile(1.0 + 1e-6 * np.arange(k, 0, -1), len(X)))   # nearest breaks ties
    return votes.argmax(axis=1) == y


def clearly_better(better: np.ndarray, worse: np.ndarray, sds: float = 2.0) -> bool:
    """Whether the per-image successes ``better`` beat ``worse`` beyond chance: of the images
    that only one of them gets right, ``better`` must win more than ``sds`` standard deviations
    above half (a sign test, as McNemar's)."""
    wins, losses = int((better & ~worse).sum()), int((worse & ~better).sum())
    return wins - losses > sds * np.sqrt(wins + losses)


def comparison_draw(labels: Sequence[str], per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``per_class`` items of each label (a seeded draw)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == label))[:per_class]
              for label in np.unique(labels)]
    return np.sort(np.concatenate(chosen))


def choose_image_source(labeled: Sequence[ImageRecord],
                        features_of: Callable[[list[Path]], np.ndarray],
                        seed: int) -> dict:
    """{"source": "removed" | "raw", "accuracy": {source: neighbour accuracy}} for the labeled
    images (records with their ``raw_path``); ``features_of(paths)`` gives the pretrained
    network's features."""
    labels = [r.label for r in labeled]
    if len(set(labels)) < 2:
        return {"source": "raw", "accuracy": {}}
    rows = comparison_draw(labels, PER_CLASS, seed)
    paths = {"removed": [labeled[i].image_path for i in rows],
             "raw": [labeled[i].raw_path for i in rows]}
    correct = {source: neighbour_votes(features_of(paths[source]), [labels[i] for i in rows])
               for source in SOURCES}
    removed = clearly_better(correct["removed"], correct["raw"])
    return {"source": "removed" if removed else "raw",
            "accuracy": {source: float(correct[source].mean()) for source in SOURCES}}


def save_image_source(model_dir: str | Path, choice: dict) -> None:
    atomic_write_json(Path(model_dir) / SOURCE_FILE, choice)


def read_image_source(run_dir: str | Path) -> str:
    """The source stage 02 chose for this run ("removed" when it recorded none)."""
    path = Path(run_dir) / "model" / SOURCE_FILE
    return json.loads(path.read_text())["source"] if path.exists() else "removed"


def with_source(records: Sequence[ImageRecord], source: str) -> list[ImageRecord]:
    """The records with ``image_path`` pointing at the chosen version of each image (the raw
    one: ``raw_path``, so the index must be loaded with the raw folders)."""
    if source == "removed":
        return list(records)
    if records and not any(r.raw_path.is_file() for r in records):
        raise SomclustError(
            f"{records[0].raw_path} not found, nor any other raw image of this run: stage 02 "
            "chose the raw images (not the background-removed ones) for the network, so they "
            "are read again - pass the --raw-dir (RAW_DIR) the earlier stages used")
    return [replace(r, image_path=r.raw_path) for r in records]


def choose_run_image_source(config, labeled: Sequence[ImageRecord],
                            features_of: Callable[[list[Path]], np.ndarray]) -> dict:
    """Stage 02's choice for a run (``config``: its Config), saved in RUN_DIR/model: by the
    labels with BG_METHOD=auto (see the module docstring; ``features_of``: the pretrained
    network's features of image files), else the images stage 01 wrote."""
    choice = {"source": "removed", "accuracy": {}}
    if config.BG_METHOD == "auto":
        choice = choose_image_source(labeled, features_of, config.SEED)
    save_image_source(config.run_dir / "model", choice)
    return choice
