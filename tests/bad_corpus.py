"""A raw-image folder mixing good images with every kind of bad input users point us at.

``make_corpus(raw)`` writes it and returns which files must be processed and which skipped
(with a word of the reason each skip must give).
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

GOOD_PER_CLASS = 6


@dataclass
class Corpus:
    usable: set[str] = field(default_factory=set)        # files relative to RAW_DIR
    skipped: dict[str, str] = field(default_factory=dict)  # file -> expected reason fragment
    kinds: list[str] = field(default_factory=list)        # what each bad input is


def _shape_image(kind: str, index: int, side: int = 64) -> np.ndarray:
    """A coloured circle or square on a noisy background (RGB uint8)."""
    rng = np.random.default_rng(index + (1000 if kind == "square" else 0))
    image = rng.integers(0, 90, (side, side, 3), dtype=np.uint8)
    colour = tuple(int(c) for c in rng.integers(120, 255, 3))
    centre, radius = side // 2 + int(rng.integers(-6, 7)), side // 4 + int(rng.integers(-3, 4))
    if kind == "circle":
        cv2.circle(image, (centre, centre), radius, colour, -1)
    else:
        cv2.rectangle(image, (centre - radius, centre - radius), (centre + radius, centre + radius),
                      colour, -1)
    return image


def _save(path: Path, image: np.ndarray | Image.Image, **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image.save(path, **options)


def make_corpus(raw: Path) -> Corpus:
    corpus = Corpus()

    def usable(file: str, kind: str, image, **options) -> None:
        _save(raw / file, image, **options)
        corpus.usable.add(file)
        if kind:
            corpus.kinds.append(kind)

    def skipped(file: str, kind: str, content: bytes, reason: str) -> None:
        (raw / file).parent.mkdir(parents=True, exist_ok=True)
        (raw / file).write_bytes(content)
        corpus.skipped[file] = reason
        corpus.kinds.append(kind)

    for kind in ("circle", "square"):
        for i in range(GOOD_PER_CLASS):
            usable(f"{kind}/{kind}_{i}.png", "", _shape_image(kind, i))
        for i in range(GOOD_PER_CLASS, GOOD_PER_CLASS + 3):
            usable(f"unlabeled/{kind}_{i}.png", "", _shape_image(kind, i))
    circle = _shape_image("circle", 50)
    good_png = BytesIO()
    Image.fromarray(circle).save(good_png, format="PNG")
    good_jpeg = BytesIO()
    Image.fromarray(circle).save(good_jpeg, format="JPEG", quality=90)

    skipped("unlabeled/zero.png", "zero-byte file", b"", "empty file")
    skipped("unlabeled/truncated.jpg", "truncated JPEG",
            good_jpeg.getvalue()[: len(good_jpeg.getvalue()) // 2], "truncated")
    skipped("unlabeled/cut_short.png", "truncated PNG",
            good_png.getvalue()[: len(good_png.getvalue()) // 2], "not a decodable image")
    skipped("unlabeled/text.jpg", "text file named .jpg", b"this is not an image\n",
            "not a decodable image")
    skipped("unlabeled/one_pixel.png", "1x1 image", _png_bytes(np.zeros((1, 1, 3), np.uint8)),
            "too small")
    skipped("unlabeled/bomb.png", "decompression bomb (20000x20000 header)",
            _png_bytes(Image.new("1", (20000, 20000))), "too large")
    usable("circle/dup.jpg", "", circle, format="JPEG")
    usable("circle/dup.png", "two files whose names differ only in the extension (both kept)",
           circle, format="PNG")

    deep = (_shape_image("square", 60).astype(np.uint16) * 257)
    (raw / "unlabeled").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(raw / "unlabeled/deep16.png"), deep[:, :, ::-1])
    corpus.usable.add("unlabeled/deep16.png")
    corpus.kinds.append("16-bit PNG")
    usable("unlabeled/cmyk.jpg", "CMYK JPEG", Image.fromarray(_shape_image("circle", 61)).convert("CMYK"))
    usable("unlabeled/rgba.png", "RGBA PNG", Image.fromarray(_shape_image("square", 62)).convert("RGBA"))
    usable("unlabeled/palette.png", "palette PNG", Image.fromarray(_shape_image("circle", 63)).convert("P"))
    usable("unlabeled/gray.png", "grayscale PNG", Image.fromarray(_shape_image("square", 64)).convert("L"))
    usable("unlabeled/huge.png", "10000x10000 image",
           cv2.resize(_shape_image("circle", 65), (10000, 10000), interpolation=cv2.INTER_NEAREST))
    exif = Image.Exif()
    exif[0x0112] = 6                                              # rotate 90 degrees on display
    usable("unlabeled/exif_rotated.jpg", "EXIF-rotated JPEG",
           Image.fromarray(_shape_image("square", 66)[:, :40]), exif=exif)
    usable("unlabeled/ünï cödé name.png", "unicode and space in the name", _shape_image("circle", 67))
    usable("unlabeled/UPPER.JPG", "upper-case extension", _shape_image("square", 68), format="JPEG")
    usable("unlabeled/png_inside.jpg", "PNG data named .jpg", _shape_image("circle", 69), format="PNG")
    usable("unlabeled/bitmap.bmp", "BMP", _shape_image("square", 70))
    usable("unlabeled/scan.tiff", "TIFF", _shape_image("circle", 71))
    usable("unlabeled/web.webp", "WebP", _shape_image("square", 72), lossless=True)
    usable("unlabeled/float.tif", "32-bit float TIFF",
           Image.fromarray(_shape_image("circle", 77)[..., 0].astype(np.float32) * 3.5))   # mode F
    usable("circle/deeper/nested.png", "image in a nested folder", _shape_image("circle", 73))
    usable("lonely/only_one.png", "a class with one image", _shape_image("square", 74))
    usable(f"unlabeled/{'n' * 246}.png", "a 250-character file name", _shape_image("circle", 76))

    (raw / "unlabeled/loop_a.png").symlink_to("loop_b.png")
    (raw / "unlabeled/loop_b.png").symlink_to("loop_a.png")
    corpus.skipped.update({"unlabeled/loop_a.png": "cannot read", "unlabeled/loop_b.png": "cannot read"})
    corpus.kinds.append("symlink loop")
    (raw / "unlabeled/folder_loop").symlink_to("..")
    corpus.kinds.append("symlinked folder pointing back up (not followed)")
    (raw / "empty_class").mkdir()
    corpus.kinds.append("empty folder")
    (raw / "unlabeled/folder.png").mkdir()
    corpus.kinds.append("folder named like an image")
    (raw / "unlabeled/notes.txt").write_text("not an image, ignored by extension")
    corpus.kinds.append("non-image file")
    odd_names = {"unlabeled/two\nlines.png": "line break in the file name",
                 os.fsdecode(b"unlabeled/\xff\xfe.png"): "not valid UTF-8"}
    for number, (file, reason) in enumerate(odd_names.items()):
        _save(raw / file, _shape_image("circle", 80 + number))
        corpus.skipped[file.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                       .replace("\n", "\\n")] = reason
    corpus.kinds += ["line break in a file name", "file name that is not valid UTF-8"]
    os.mkfifo(raw / "unlabeled/pipe.png")            # reading it would wait for a writer forever
    corpus.skipped["unlabeled/pipe.png"] = "not a regular file"
    corpus.kinds.append("FIFO named like an image")
    with socket.socket(socket.AF_UNIX) as server:      # the socket file outlives the socket
        server.bind(str(raw / "unlabeled/socket.png"))
    corpus.skipped["unlabeled/socket.png"] = "not a regular file"
    corpus.kinds.append("Unix socket named like an image")
    locked = raw / "unlabeled/unreadable.png"
    _save(locked, _shape_image("circle", 75))
    locked.chmod(0)
    corpus.kinds.append("unreadable file (permissions)")
    if os.geteuid() == 0:            # root reads it anyway
        corpus.usable.add("unlabeled/unreadable.png")
    else:
        corpus.skipped["unlabeled/unreadable.png"] = "permission denied"
    return corpus


def _png_bytes(image: np.ndarray | Image.Image) -> bytes:
    buffer = BytesIO()
    (Image.fromarray(image) if isinstance(image, np.ndarray) else image).save(buffer, format="PNG")
    return buffer.getvalue()
