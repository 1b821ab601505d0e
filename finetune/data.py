"""Keras data feeding for fine-tuning: images read per batch, augmented with a per-epoch seed."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import albumentations as A
import keras
import numpy as np

from common.images import read_square


class AugmentedImages(keras.utils.PyDataset):
    """Batches of (pixels, class index); shuffling and augmentation depend on (seed, epoch) only,
    so a run resumed at epoch e sees the same batches as an uninterrupted one. Images larger
    than ``max_side`` are read shrunk to it first (0: at full size)."""

    def __init__(self, paths: Sequence[str | Path], labels: Sequence[int], image_size: int,
                 batch_size: int, augmentation: A.Compose | None, seed: int, shuffle: bool,
                 max_side: int = 0):
        super().__init__()
        self.paths, self.labels = list(paths), np.asarray(labels, dtype=np.int32)
        self.image_size, self.batch_size, self.max_side = image_size, batch_size, max_side
        self.augmentation, self.seed, self.shuffle = augmentation, seed, shuffle
        self.epoch = 0
        self.order = np.arange(len(self.paths))
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Fix the shuffling for ``epoch``."""
        self.epoch = epoch
        if self.shuffle:
            self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.paths))

    def __len__(self) -> int:
        return int(np.ceil(len(self.paths) / self.batch_size))

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        images = [read_square(self.paths[i], self.image_size, self.max_side) for i in rows]
        if self.augmentation is not None:
            self.augmentation.set_random_seed(int(self.seed * 1_000_003 + self.epoch * 10_007 + index))
            images = [self.augmentation(image=image)["image"] for image in images]
        return np.stack(images).astype(np.float32), self.labels[rows]


class EpochSetter(keras.callbacks.Callback):
    """At each epoch start: fix the data's shuffling and reseed every random layer (dropout) from
    (seed, epoch), so a run resumed at epoch e trains exactly like an uninterrupted one (keras
    does not save the random layers' state in checkpoints)."""

    def __init__(self, data: AugmentedImages):
        super().__init__()
        self.data = data

    def on_epoch_begin(self, epoch, logs=None):
        self.data.set_epoch(epoch)
        for index, layer in enumerate(self.model._flatten_layers(include_self=False)):
            generator = getattr(layer, "seed_generator", None)
            if generator is not None:
                seed = np.random.default_rng([self.data.seed, epoch, index]).integers(2**31)
                generator.state.assign(np.array([seed, 0], dtype=generator.state.dtype))
