"""The default dataset: Fashion-MNIST items as 'raw photos' on cluttered real backgrounds.

Each item is upscaled, colourised and composited at a random position and scale onto a random
crop of a real photograph shipped with scikit-image; its true foreground mask is saved beside it.
Labeled classes go to ``raw_img/<class_name>/`` (train split); every class of the test split
goes to ``raw_img/unlabeled/`` with its truth in a labels CSV, for scoring only.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from common.atomic_io import atomic_write_bytes, atomic_write_csv
from common.errors import SomclustError
from common.images import encode_png
from preprocess.fashion_mnist import CLASS_NAMES, load_fashion_mnist

LOG = logging.getLogger("somclust")
DEMO_MARK = ".somclust_demo"          # left in RAW_DIR: the builder may add to this folder
BACKGROUND_FILES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg",
                    "motorcycle_left.png", "hubble_deep_field.jpg", "retina.jpg", "brick.png",
                    "grass.png", "gravel.png", "color.png", "ihc.png", "camera.png", "moon.png")


@dataclass(frozen=True)
class DemoSpec:
    """What to build: sizes, which classes are labeled, how many images of each part."""

    image_size: int = 128
    labeled_classes: tuple[int, ...] = (0, 2, 4, 6, 8)
    labeled_per_class: int = 150
    unlabeled_per_class: int = 150
    seed: int = 0


def load_backgrounds() -> list[np.ndarray]:
    """Real photographs (RGB uint8) from scikit-image's bundled sample data."""
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    backgrounds = []
    for name in BACKGROUND_FILES:
        image = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
        if image is not None:
            backgrounds.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    if not backgrounds:
        raise SomclustError(f"no background photos found in {folder}; reinstall scikit-image")
    return backgrounds


def _background(rng: np.random.Generator, photos: list[np.ndarray], side: int) -> np.ndarray:
    photo = photos[rng.integers(len(photos))]
    height, width = photo.shape[:2]
    crop = int(min(height, width) * rng.uniform(0.25, 0.8))
    top, left = rng.integers(0, height - crop + 1), rng.integers(0, width - crop + 1)
    patch = cv2.resize(photo[top:top + crop, left:left + crop], (side, side),
                       interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    if patch.std() < 40:  # flat or gray photos get a coloured tint to stay cluttered
        tint = rng.uniform(0.5, 1.3, size=3)
        patch = np.clip(patch * tint, 0, 255)
    return patch.astype(np.float32)


def _item_mask(intensity: np.ndarray) -> np.ndarray:
    """Filled silhouette of a Fashion-MNIST item (its dark inner pixels included)."""
    binary = (intensity > 0.04).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(binary)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled


def composite(item: np.ndarray, rng: np.random.Generator, photos: list[np.ndarray],
              side: int) -> tuple[np.ndarray, np.ndarray]:
    """One raw photo (side, side, 3) uint8 and its true mask (side, side) bool."""
    canvas = _background(rng, photos, side)
    item_side = int(side * rng.uniform(0.55, 0.85))
    intensity = cv2.resize(item.astype(np.float32) / 255.0, (item_side, item_side),
                           interpolation=cv2.INTER_CUBIC).clip(0, 1)
    mask = _item_mask(intensity)
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(90, 256), rng.integers(150, 256)]]])
    colour = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
    item_rgb = colour * (0.3 + 0.7 * intensity)[..., None]
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0)[..., None]
    margin = max(2, side // 32)
    top = rng.integers(margin, side - item_side - margin + 1)
    left = rng.integers(margin, side - item_side - margin + 1)
    region = canvas[top:top + item_side, left:left + item_side]
    canvas[top:top + item_side, left:left + item_side] = alpha * item_rgb + (1 - alpha) * region
    true_mask = np.zeros((side, side), dtype=bool)
    true_mask[top:top + item_side, left:left + item_side] = mask > 0
    return canvas.round().clip(0, 255).astype(np.uint8), true_mask


def _pick(labels: np.ndarray, classes, per_class: int, rng: np.random.Generator) -> np.ndarray:
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes]
    return np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=int)


def holds_only_demo_files(raw_dir: Path) -> bool:
    """Whether every file below ``raw_dir`` is named as the demo builder names its images (a
    demo folder written before the builder left its mark)."""
    names = re.compile(rf"^(({'|'.join(CLASS_NAMES)})/train|unlabeled/test)_\d{{5}}\.png$")
    return all(names.match(str(path.relative_to(raw_dir)))
               for path in raw_dir.rglob("*") if not path.is_dir())


def build_demo_dataset(fashion_dir: str | Path, raw_dir: str | Path, mask_dir: str | Path,
                       labels_csv: str | Path, spec: DemoSpec) -> dict[str, int]:
    """Write the demo photos, masks and labels CSV; files already there are kept (resumable).

    Refuses a RAW_DIR that holds anything without the mark of an earlier demo build: the
    builder never writes into a folder of someone's own images."""
    raw_dir, mask_dir = Path(raw_dir), Path(mask_dir)
    mark = raw_dir / DEMO_MARK
    if raw_dir.is_dir() and not mark.is_file() and not holds_only_demo_files(raw_dir):
        raise SomclustError(f"RAW_DIR {raw_dir} holds files the demo builder did not write; it "
                            "adds nothing to them. To cluster your own images, run "
                            f"'make cluster RAW_DIR={raw_dir}' (no demo dataset); for the demo, "
                            "choose another WORK_DIR or RAW_DIR")
    atomic_write_bytes(mark, b"written by make_demo_dataset.py: demo images may be added here\n")
    rng = np.random.default_rng(spec.seed)
    train_x, train_y = load_fashion_mnist(fashion_dir, "train")
    test_x, test_y = load_fashion_mnist(fashion_dir, "test")
    jobs = [(f"{CLASS_NAMES[train_y[i]]}/train_{i:05d}.png", train_x[i], 1, i)
            for i in _pick(train_y, spec.labeled_classes, spec.labeled_per_class, rng)]
    unlabeled = _pick(test_y, range(len(CLASS_NAMES)), spec.unlabeled_per_class, rng)
    jobs += [(f"unlabeled/test_{i:05d}.png", test_x[i], 2, i) for i in unlabeled]
    photos = load_backgrounds()
    written = 0
    for relative, item, split_id, index in tqdm(jobs, desc="demo dataset", unit="img"):
        if (raw_dir / relative).exists() and (mask_dir / relative).exists():
            continue
        image_rng = np.random.default_rng([spec.seed, split_id, int(index)])
        photo, mask = composite(item, image_rng, photos, spec.image_size)
        atomic_write_bytes(mask_dir / relative, encode_png(mask.astype(np.uint8) * 255))
        atomic_write_bytes(raw_dir / relative, encode_png(photo))
        written += 1
    atomic_write_csv(labels_csv, ("file", "label"),
                     [(f"unlabeled/test_{i:05d}.png", CLASS_NAMES[test_y[i]]) for i in unlabeled])
    LOG.info("demo dataset: %d images (%d new) in %s", len(jobs), written, raw_dir)
    return {"images": len(jobs), "labeled": len(jobs) - len(unlabeled),
            "unlabeled": len(unlabeled), "written": written}
