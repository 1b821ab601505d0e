"""Finding and reading images robustly: every failure becomes an ImageReadError with a reason."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import cv2
import numpy as np

from common.errors import ImageReadError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MIN_SIDE = 8                      # smaller images carry no usable content
MAX_PIXELS = 120_000_000          # refuse decompression bombs (~11000 x 11000)


def list_images(root: str | os.PathLike) -> list[Path]:
    """Image files below ``root`` (recursive, sorted, symlinked folders not followed).

    Files are recognised by extension; whether they decode is checked when read.
    """
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(Path(dirpath) / name)
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


def _image_size_from_header(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header without decoding: read directly for PNG (the common
    case, 4x cheaper than asking Pillow), else where Pillow can tell."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    try:
        from io import BytesIO

        from PIL import Image

        Image.MAX_IMAGE_PIXELS = None
        with Image.open(BytesIO(data)) as image:
            return image.size
    except Exception:  # noqa: BLE001 - not every format Pillow knows; cv2 decides below
        return None


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file as an (H, W, 3) uint8 RGB array.

    Handles 16-bit, grayscale, palette, RGBA (alpha dropped), CMYK and EXIF-rotated files,
    and non-ASCII paths. Raises ImageReadError with a one-line reason otherwise.
    """
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
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)  # 8-bit BGR, EXIF orientation applied
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image is not None else _scaled_samples(data)
    if image is None:
        raise ImageReadError("not a decodable image (corrupt, truncated or not an image format)")
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ImageReadError(f"too small ({width}x{height} px, need at least {MIN_SIDE} px a side)")
    return image


def _scaled_samples(data: bytes) -> np.ndarray | None:
    """RGB uint8 of a one-channel image OpenCV cannot decode (32-bit float or integer samples,
    as in scientific TIFFs), its value range stretched to 0-255; None if Pillow cannot read it."""
    try:
        from io import BytesIO

        from PIL import Image

        with Image.open(BytesIO(data)) as opened:
            if opened.mode not in ("F", "I", "I;16", "I;16B"):
                return None
            values = np.asarray(opened, dtype=np.float64)
    except Exception:  # noqa: BLE001 - whatever Pillow cannot read is not decodable
        return None
    finite = values[np.isfinite(values)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
    scaled = np.nan_to_num((values - low) / max(high - low, 1e-12) * 255.0)
    return np.repeat(np.clip(scaled, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask image as a boolean (H, W) array."""
    data = np.frombuffer(Path(path).read_bytes(), dtype=np.uint8)
    mask = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ImageReadError("not a decodable mask image")
    return mask > 127


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB (H, W, 3) or grayscale (H, W) uint8 array."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ImageReadError("could not encode PNG")
    return encoded.tobytes()


def resize_square(image: np.ndarray, side: int) -> np.ndarray:
    """Resize to side x side (area interpolation when shrinking)."""
    interpolation = cv2.INTER_AREA if min(image.shape[:2]) > side else cv2.INTER_LINEAR
    return cv2.resize(image, (side, side), interpolation=interpolation)
