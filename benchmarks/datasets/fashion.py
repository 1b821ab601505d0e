"""Grayscale items: Fashion-MNIST's test split (Debian ``dataset-fashion-mnist`` 0.0~git20200523,
idx files under /usr/share/datasets/fashion-mnist/), 10 classes, 28 x 28 px."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.datasets import DatasetUnavailable, LabeledPicture, balanced
from common.errors import SomclustError
from common.images import encode_png
from config import Config
from preprocess.fashion_mnist import CLASS_NAMES, load_fashion_mnist


def build(per_class: int = 100, seed: int = 0,
          directory: str | Path | None = None) -> list[LabeledPicture]:
    """``per_class`` test images of each of the 10 classes (seeded draw)."""
    try:
        images, labels = load_fashion_mnist(directory or Config().FASHION_MNIST_DIR, "test")
    except SomclustError as error:
        raise DatasetUnavailable(str(error)) from None
    rng = np.random.default_rng(seed)
    chosen = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class]
                             for c in np.unique(labels)])
    return balanced([LabeledPicture(CLASS_NAMES[labels[i]], encode_png(images[i]))
                     for i in np.sort(chosen)], per_class, 1, seed)
