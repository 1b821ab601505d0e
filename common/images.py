"""Finding and reading images robustly: every failure becomes an ImageReadError with a reason."""
from __future__ import annotations

import os
import stat
from collections import Counter
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from common.errors import ImageReadError

# a GIF is read as its first frame
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
MIN_SIDE = 8                      # smaller images carry no usable content
MAX_PIXELS = 120_000_000          # refuse decompression bombs (~11000 x 11000)
JPEG_REDUCTIONS = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                   (2, cv2.IMREAD_REDUCED_COLOR_2))
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}   # JPEG frame headers


def list_images(root: str | os.PathLike, ignored: Counter | None = None) -> list[Path]:
    """Image files below ``root`` (recursive, sorted, symlinked folders not followed).

    Files are recognised by extension; whether they decode is checked when read. ``ignored``:
    counts the other (not hidden) files by extension.
    """
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            if name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(Path(dirpath) / name)
            elif ignored is not None:
                ignored[Path(name).suffix.lower() or "(no extension)"] += 1
    return sorted(found)


def name_problem(name: str) -> str:
    """Why a file name cannot be carried through the run's outputs ("" when it can): one with a
    line break would take two lines of the line-based outputs (img_paths.txt, labels_true.txt,
    labels_pred.txt), one that is not valid UTF-8 cannot be written into them at all."""
    if "\n" in name or "\r" in name:
        return ("line break in the file name: the line-based outputs need one line per image; "
                "rename the file")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8 (bytes from another system): rename the file"
    return ""


def printable_name(name: str) -> str:
    """``name`` with undecodable bytes as \\xNN and line breaks as \\n, for logs and CSVs."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text.replace("\n", "\\n").replace("\r", "\\r")


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header (markers walked, nothing decoded); None if
    the markers end before one."""
    offset = 2
    while offset + 9 <= len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        if marker == 0xFF:                      # fill byte before a marker
            offset += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:   # markers without a length
            offset += 2
        elif marker in SOF_MARKERS:
            return (int.from_bytes(data[offset + 7:offset + 9], "big"),
                    int.from_bytes(data[offset + 5:offset + 7], "big"))
        else:
            offset += 2 + int.from_bytes(data[offset + 2:offset + 4], "big")
    return None


def _image_size_from_header(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header without decoding: read directly for PNG and JPEG (the
    common cases, far cheaper than asking Pillow), else where Pillow can tell."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] == b"\xff\xd8" and (size := _jpeg_size(data)):
        return size
    try:
        from io import BytesIO

        from PIL import Image

        Image.MAX_IMAGE_PIXELS = None
        with Image.open(BytesIO(data)) as image:
            return image.size
    except Exception:  # noqa: BLE001 - not every format Pillow knows; cv2 decides below
        return None


def _decode_flag(data: bytes, size: tuple[int, int] | None, max_side: int) -> int:
    """How OpenCV should decode: for a JPEG whose longer side exceeds ``max_side``, at the
    strongest libjpeg reduction (1/8, 1/4, 1/2: fewer pixels decoded, several times faster)
    that still leaves that side >= ``max_side`` (and the shorter one >= MIN_SIDE); else at full
    size."""
    if max_side and size and data[:2] == b"\xff\xd8":
        for factor, flag in JPEG_REDUCTIONS:
            if max(size) // factor >= max_side and min(size) // factor >= MIN_SIDE:
                return flag
    return cv2.IMREAD_COLOR


def shrink_to(image: np.ndarray, max_side: int) -> np.ndarray:
    """``image`` with its longer side brought down to ``max_side`` (area interpolation, aspect
    kept); unchanged when it already fits or ``max_side`` is 0."""
    height, width = image.shape[:2]
    if not max_side or max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def read_rgb(path: str | os.PathLike, max_side: int = 0) -> np.ndarray:
    """Decode an image file as an (H, W, 3) uint8 RGB array.

    Handles 16-bit, grayscale, palette, RGBA (alpha dropped), CMYK and EXIF-rotated files,
    and non-ASCII paths. Raises ImageReadError with a one-line reason otherwise. With
    ``max_side`` > 0 a larger image comes back shrunk to that longer side (a JPEG decoded at a
    reduced scale first); one that fits comes back exactly as decoded.
    """
    return read_rgb_fitted(path, max_side)[0]


def read_rgb_fitted(path: str | os.PathLike, max_side: int) -> tuple[np.ndarray, bool]:
    """:func:`read_rgb`'s image, and whether it was larger than ``max_side`` (so shrunk)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):   # a FIFO would block the read forever
            raise ImageReadError("not a regular file (a FIFO, socket or device): skipped")
        data = path.read_bytes()
    except IsADirectoryError:
        raise ImageReadError("is a folder, not an image file") from None
    except PermissionError:
        raise ImageReadError("permission denied: cannot read the file") from None
    except OSError as error:
        raise ImageReadError(f"cannot read the file ({error.strerror or error})") from None
    if not data:
        raise ImageReadError("empty file (0 bytes)")
    size = _image_size_from_header(data)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise ImageReadError(f"too large ({size[0]}x{size[1]} px, limit {MAX_PIXELS:,} pixels)")
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-4096:]:
        raise ImageReadError("truncated JPEG (no end-of-image marker): re-copy or re-export it")
    buffer = np.frombuffer(data, dtype=np.uint8)
    flag = _decode_flag(data, size, max_side)
    image = cv2.imdecode(buffer, flag)                      # 8-bit BGR, EXIF orientation applied
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image is not None else _pillow_decoded(data)
    if image is None:
        raise ImageReadError("not a decodable image (corrupt, truncated or not an image format)")
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ImageReadError(f"too small ({width}x{height} px, need at least {MIN_SIDE} px a side)")
    fitted = shrink_to(image, max_side)
    return fitted, flag != cv2.IMREAD_COLOR or fitted is not image


def _pillow_decoded(data: bytes) -> np.ndarray | None:
    """RGB uint8 of an image OpenCV cannot decode, by Pillow: a GIF (its first frame; OpenCV
    before 4.11 has no GIF reader) or a one-channel image of 32-bit float or integer samples
    (scientific TIFFs), its value range stretched to 0-255; None if Pillow cannot read it."""
    try:
        from io import BytesIO

        from PIL import Image

        with Image.open(BytesIO(data)) as opened:
            if opened.format == "GIF":
                return np.asarray(opened.convert("RGB"))
            if opened.mode not in ("F", "I", "I;16", "I;16B"):
                return None
            values = np.asarray(opened, dtype=np.float64)
    except Exception:  # noqa: BLE001 - whatever Pillow cannot read is not decodable
        return None
    finite = values[np.isfinite(values)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
    scaled = np.nan_to_num((values - low) / max(high - low, 1e-12) * 255.0)
    return np.repeat(np.clip(scaled, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def read_mask(path: str | os.PathLike, max_side: int = 0) -> np.ndarray:
    """Read a mask image as a boolean (H, W) array (shrunk like :func:`read_rgb`'s images)."""
    data = np.frombuffer(Path(path).read_bytes(), dtype=np.uint8)
    mask = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ImageReadError("not a decodable mask image")
    return shrink_to(mask, max_side) > 127


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB (H, W, 3) or grayscale (H, W) uint8 array."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ImageReadError("could not encode PNG")
    return encoded.tobytes()


def read_square(path: str | os.PathLike, side: int, max_side: int = 0) -> np.ndarray:
    """The network's view of an image file: read (see :func:`read_rgb`), then side x side."""
    return resize_square(read_rgb(path, max_side), side)


def load_batch(paths: Sequence[str | os.PathLike], image_size: int, max_side: int = 0) -> np.ndarray:
    """Images as a float32 (N, size, size, 3) array of pixels in [0, 255] (read as
    :func:`read_square` reads them)."""
    return np.stack([read_square(p, image_size, max_side) for p in paths]).astype(np.float32)


def resize_square(image: np.ndarray, side: int) -> np.ndarray:
    """Resize to side x side (area interpolation when shrinking)."""
    interpolation = cv2.INTER_AREA if min(image.shape[:2]) > side else cv2.INTER_LINEAR
    return cv2.resize(image, (side, side), interpolation=interpolation)
