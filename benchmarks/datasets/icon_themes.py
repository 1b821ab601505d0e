"""Colour icons of Debian icon themes, class = the theme's context folder (actions, apps,
devices, mimetypes, places, status, ...). Icons are copied as shipped (RGBA PNG); symlinked and
byte-identical icons count once; contexts with fewer than 15 icons are left out.

- ``oxygen_icons``: Debian ``oxygen-icon-theme`` 5:5.103.0-1, each icon at its largest size of
  48 px or more.
- ``gnome_icons``: Debian ``gnome-icon-theme`` 3.12.0-5, the 48 x 48 px icons.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from benchmarks.datasets import DatasetUnavailable, LabeledPicture, balanced

MIN_PER_CLASS = 15


def theme_icons(theme_dir: str | Path, min_size: int, max_size: int | None = None
                ) -> list[LabeledPicture]:
    """One picture per (context, icon name): the largest ``<size>x<size>/<context>/<name>.png``
    with min_size <= size (<= max_size); byte-identical icons kept once."""
    theme_dir = Path(theme_dir)
    largest: dict[tuple[str, str], tuple[int, Path]] = {}
    for size_dir in sorted(theme_dir.glob("*x*")):
        match = re.fullmatch(r"(\d+)x\1", size_dir.name)
        if not match or int(match[1]) < min_size or (max_size and int(match[1]) > max_size):
            continue
        for path in sorted(size_dir.glob("*/*.png")):
            key = (path.parent.name, path.stem)
            if key not in largest or largest[key][0] < int(match[1]):
                largest[key] = (int(match[1]), path)
    seen, pictures = set(), []
    for (context, _), (_, path) in sorted(largest.items()):
        data = path.read_bytes()
        digest = hashlib.sha1(data).digest()
        if digest not in seen:
            seen.add(digest)
            pictures.append(LabeledPicture(context, data))
    return pictures


def _build(theme_dir: Path, package: str, per_class: int, seed: int, min_size: int,
           max_size: int | None) -> list[LabeledPicture]:
    if not theme_dir.is_dir():
        raise DatasetUnavailable(f"{theme_dir} not found: apt-get install -y {package}")
    return balanced(theme_icons(theme_dir, min_size, max_size), per_class, MIN_PER_CLASS, seed)


def build_oxygen(per_class: int = 80, seed: int = 0,
                 theme_dir: str | Path = "/usr/share/icons/oxygen/base") -> list[LabeledPicture]:
    """Oxygen icons by context (8 contexts with >= 15 icons)."""
    return _build(Path(theme_dir), "oxygen-icon-theme", per_class, seed, 48, None)


def build_gnome(per_class: int = 80, seed: int = 0,
                theme_dir: str | Path = "/usr/share/icons/gnome") -> list[LabeledPicture]:
    """GNOME icons (48 x 48 px) by context (9 contexts with >= 15 icons)."""
    return _build(Path(theme_dir), "gnome-icon-theme", per_class, seed, 48, 48)
