"""Image sets of different kinds for the quality suite, built offline from registry packages.

Every builder returns a list of :class:`LabeledPicture` (class name + encoded image bytes) and
raises :class:`DatasetUnavailable` naming the package to install when its source is missing.
Nothing built here is committed: ``benchmarks/quality_suite.py`` writes the images under its
work folder with anonymous names.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

import numpy as np


class DatasetUnavailable(RuntimeError):
    """The package a set is built from is not installed; the message says how to install it."""


@dataclass(frozen=True)
class LabeledPicture:
    label: str
    data: bytes                 # encoded image file (PNG)
    suffix: str = ".png"


def balanced(pictures: list[LabeledPicture], per_class: int, min_per_class: int,
             seed: int) -> list[LabeledPicture]:
    """At most ``per_class`` pictures of each class (a seeded draw); classes with fewer than
    ``min_per_class`` pictures are dropped."""
    by_class: dict[str, list[LabeledPicture]] = defaultdict(list)
    for picture in pictures:
        by_class[picture.label].append(picture)
    rng = np.random.default_rng(seed)
    kept = []
    for label in sorted(by_class):
        members = by_class[label]
        if len(members) < min_per_class:
            continue
        order = rng.permutation(len(members))[:per_class]
        kept += [members[i] for i in sorted(order)]
    return kept


def builders() -> dict[str, Callable[..., list[LabeledPicture]]]:
    """{set name: builder(per_class, seed)} of every set in the suite, in suite order."""
    from benchmarks.datasets import digits, fashion, glyphs, icon_themes, photo_crops

    return {"fashion": fashion.build, "digits": digits.build, "glyphs": glyphs.build,
            "oxygen_icons": icon_themes.build_oxygen, "gnome_icons": icon_themes.build_gnome,
            "photo_crops": photo_crops.build}
