"""Albumentations augmentation for fine-tuning, built from the AUGMENTATIONS config key."""
from __future__ import annotations

from typing import Sequence

import albumentations as A


def build_augmentation(names: Sequence[str], seed: int) -> A.Compose:
    """A seeded albumentations pipeline holding the named transforms, in a fixed order."""
    available = {
        "flip": lambda: A.HorizontalFlip(p=0.5),
        "shift_scale_rotate": lambda: A.Affine(translate_percent=(-0.08, 0.08), scale=(0.85, 1.15),
                                               rotate=(-15, 15), p=0.7),
        "color_jitter": lambda: A.ColorJitter(brightness=0.25, contrast=0.25, saturation=0.3,
                                              hue=0.08, p=0.7),
        "coarse_dropout": lambda: A.CoarseDropout(num_holes_range=(1, 4),
                                                  hole_height_range=(0.06, 0.18),
                                                  hole_width_range=(0.06, 0.18), p=0.4),
    }
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"unknown augmentations {unknown}; allowed: {', '.join(available)}")
    return A.Compose([available[n]() for n in available if n in names], seed=seed)
