"""Glyphs: characters rendered from the fonts of several Debian font packages (fonts-urw-base35
20200910, fonts-dejavu-core 2.37, fonts-liberation2 2.1.5, fonts-freefont-ttf 20120503,
fonts-noto-core 20201225: their .ttf/.otf files as dpkg lists them, so fonts other packages
install - fonts-liberation comes with chromium - do not change the set; where dpkg is missing,
any font under /usr/share/fonts, or under the folders given). Class = the character;
one picture per font that has every character, in colour: a random ink on a random background
of another lightness, with small shifts, scales and rotations."""
from __future__ import annotations

import colorsys
import io
import subprocess
from pathlib import Path
from typing import Iterable

import numpy as np

from benchmarks.datasets import DatasetUnavailable, LabeledPicture, balanced

CHARACTERS = "ABGKMRaeg3&?"
FONT_DIRS = ("/usr/share/fonts",)
SIDE = 64
PACKAGES = "fonts-urw-base35 fonts-dejavu-core fonts-liberation2 fonts-freefont-ttf fonts-noto-core"


def package_font_files(packages: str = PACKAGES) -> list[Path]:
    """The .ttf/.otf files the Debian ``packages`` installed (``dpkg-query -L``), sorted; empty
    where dpkg is missing or none of them is installed."""
    try:
        listing = subprocess.run(["dpkg-query", "-L", *packages.split()], capture_output=True,
                                 text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(Path(line) for line in listing.splitlines()
                  if line.lower().endswith((".ttf", ".otf")))


def usable_fonts(sources: Iterable[str | Path], characters: str) -> list[Path]:
    """Font files (.ttf/.otf; ``sources``: files, or folders searched) that map every character
    to its own Latin glyph (symbol and dingbat fonts map letters to other signs), one per family
    and style, sorted."""
    from fontTools.ttLib import TTFont

    found: dict[str, Path] = {}
    for source in map(Path, sources):
        for path in sorted(source.rglob("*")) if source.is_dir() else [source]:
            if path.suffix.lower() not in (".ttf", ".otf") or not path.is_file():
                continue
            try:
                with TTFont(path, lazy=True) as font:
                    cmap = font.getBestCmap() or {}
                    name = font["name"]
                    key = f"{name.getDebugName(1)}/{name.getDebugName(2)}"
            except Exception:  # noqa: BLE001 - a broken or exotic font file: not one of ours
                continue
            latin = cmap.get(ord("A")) == "A" and cmap.get(ord("a")) == "a"   # not a symbol font
            if latin and all(ord(c) in cmap for c in characters):
                found.setdefault(key, path)
    return sorted(found.values())


def _colours(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(ink, background) RGB colours of random hues whose lightness differs by >= 0.45."""
    light = rng.uniform(0.0, 1.0)
    dark = light - 0.55 if light > 0.55 else light + 0.45
    ink, paper = (colorsys.hls_to_rgb(rng.uniform(), level, rng.uniform(0.2, 1.0))
                  for level in (dark, light))
    return tuple(int(255 * c) for c in ink), tuple(int(255 * c) for c in paper)


def render(font_path: Path, character: str, rng: np.random.Generator) -> bytes:
    """PNG of one character, SIDE x SIDE px."""
    from PIL import Image, ImageDraw, ImageFont

    ink, paper = _colours(rng)
    font = ImageFont.truetype(str(font_path), int(SIDE * rng.uniform(0.55, 0.75)))
    glyph = Image.new("L", (2 * SIDE, 2 * SIDE), 0)
    ImageDraw.Draw(glyph).text((SIDE, SIDE), character, font=font, fill=255, anchor="mm")
    glyph = glyph.rotate(rng.uniform(-12, 12), resample=Image.BILINEAR)
    shift = rng.integers(-5, 6, size=2)
    left, top = SIDE // 2 + shift[0], SIDE // 2 + shift[1]
    mask = glyph.crop((left, top, left + SIDE, top + SIDE))
    picture = Image.new("RGB", (SIDE, SIDE), paper)
    picture.paste(Image.new("RGB", (SIDE, SIDE), ink), mask=mask)
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def build(per_class: int = 60, seed: int = 0, font_dirs: Iterable[str | Path] | None = None,
          characters: str = CHARACTERS) -> list[LabeledPicture]:
    """One picture of each character per usable font (at most ``per_class`` fonts, seeded): the
    fonts of the packages (:func:`package_font_files`; those under ``FONT_DIRS`` where dpkg
    lists none), or of the folders ``font_dirs``."""
    sources = list(font_dirs or package_font_files() or FONT_DIRS)
    fonts = usable_fonts(sources, characters)
    if len(fonts) < 15:
        where = ", ".join(map(str, font_dirs or FONT_DIRS))
        raise DatasetUnavailable(f"only {len(fonts)} fonts with the characters {characters!r} "
                                 f"in {PACKAGES} or under {where}; install them with "
                                 f"'apt-get install -y {PACKAGES}'")
    rng = np.random.default_rng(seed)
    fonts = [fonts[i] for i in sorted(rng.permutation(len(fonts))[:per_class])]
    pictures = [LabeledPicture(f"char_{ord(c):04x}", render(font, c, rng))
                for font in fonts for c in characters]
    return balanced(pictures, per_class, 15, seed)
