"""Read Fashion-MNIST from the local idx files (Debian's dataset-fashion-mnist package)."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from common.errors import SomclustError

CLASS_NAMES = ("tshirt_top", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "ankle_boot")
_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _read_idx(path: Path, expected_ndim: int) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    zero, dtype_code, ndim = data[0] * 256 + data[1], data[2], data[3]
    if zero != 0 or dtype_code != 0x08 or ndim != expected_ndim:
        raise SomclustError(f"{path} is not a uint8 idx file with {expected_ndim} dimensions")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion_mnist(directory: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) of the 'train' or 'test' split."""
    directory = Path(directory)
    image_file, label_file = _FILES[split]
    if not (directory / image_file).exists():
        raise SomclustError(
            f"Fashion-MNIST not found in {directory} (missing {image_file}). Install it with "
            "'apt-get install -y dataset-fashion-mnist' or set FASHION_MNIST_DIR to a folder "
            "holding the four idx .gz files")
    images = _read_idx(directory / image_file, 3)
    labels = _read_idx(directory / label_file, 1)
    if len(images) != len(labels):
        raise SomclustError(f"{directory}: {len(images)} images but {len(labels)} labels")
    return images, labels
