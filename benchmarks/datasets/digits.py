"""Handwritten digits: scikit-learn's bundled ``load_digits`` (UCI optical digits, 8 x 8 px,
16 gray levels; shipped inside the scikit-learn wheel), 10 classes, upscaled to 32 x 32 px."""
from __future__ import annotations

import cv2
import numpy as np

from benchmarks.datasets import LabeledPicture, balanced
from common.images import encode_png


def build(per_class: int = 100, seed: int = 0) -> list[LabeledPicture]:
    """``per_class`` digits of each class, dark ink on white (seeded draw)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pictures = []
    for image, label in zip(digits.images, digits.target):
        ink = (image / 16.0 * 255).astype(np.uint8)
        large = cv2.resize(255 - ink, (32, 32), interpolation=cv2.INTER_CUBIC)
        pictures.append(LabeledPicture(f"digit_{label}", encode_png(large)))
    return balanced(pictures, per_class, 1, seed)
