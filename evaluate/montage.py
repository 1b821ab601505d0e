"""Image montages: a grid of thumbnails with a caption under each."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from common.errors import ImageReadError
from common.images import read_square

CAPTION_HEIGHT = 14


def thumbnail(path: str | Path, side: int) -> np.ndarray:
    """A square RGB thumbnail (a large photo decoded at a reduced scale); unreadable images
    become a grey tile."""
    try:
        return read_square(path, side, max_side=2 * side).astype(np.uint8)
    except ImageReadError:
        return np.full((side, side, 3), 128, np.uint8)


def montage(paths: Sequence[str | Path], captions: Sequence[str], side: int = 72,
            columns: int = 8) -> np.ndarray:
    """(rows * (side + caption), columns * side, 3) uint8 grid of thumbnails with captions."""
    if len(paths) != len(captions):
        raise ValueError(f"{len(paths)} paths but {len(captions)} captions")
    columns = max(1, min(columns, len(paths)))
    rows = max(1, -(-len(paths) // columns))
    cell_height = side + CAPTION_HEIGHT
    sheet = np.full((rows * cell_height, columns * side, 3), 255, np.uint8)
    for index, (path, caption) in enumerate(zip(paths, captions)):
        row, col = divmod(index, columns)
        top, left = row * cell_height, col * side
        sheet[top:top + side, left:left + side] = thumbnail(path, side)
        text = caption[: max(1, side // 7)]
        cv2.putText(sheet, text, (left + 2, top + side + CAPTION_HEIGHT - 4),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, (20, 20, 20), 1, cv2.LINE_AA)
    return sheet
