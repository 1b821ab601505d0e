"""Photo crops: random crops of the colour photos shipped inside scikit-image 0.26 (astronaut,
coffee, chelsea, rocket, hubble_deep_field, retina, ihc, motorcycle_left) and matplotlib 3.x
(grace_hopper.jpg), class = the photo. A crop covers 30-60 % of the photo's shorter side at a
random place, is mirrored half of the time, and is saved at 128 x 128 px."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from benchmarks.datasets import LabeledPicture
from common.images import encode_png, read_rgb

SKIMAGE_PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg",
                  "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "motorcycle_left.png")
SIDE = 128


def photo_paths() -> dict[str, Path]:
    """{class name: photo file} of the bundled photos."""
    import matplotlib
    import skimage.data

    folder = Path(skimage.data.__file__).parent
    paths = {name.split(".")[0]: folder / name for name in SKIMAGE_PHOTOS}
    paths["grace_hopper"] = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return paths


def random_crop(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A square crop of 30-60 % of the shorter side, maybe mirrored, SIDE x SIDE px."""
    height, width = photo.shape[:2]
    side = int(min(height, width) * rng.uniform(0.3, 0.6))
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    crop = photo[top:top + side, left:left + side]
    crop = crop[:, ::-1] if rng.random() < 0.5 else crop
    return cv2.resize(np.ascontiguousarray(crop), (SIDE, SIDE), interpolation=cv2.INTER_AREA)


def build(per_class: int = 60, seed: int = 0,
          paths: dict[str, Path] | None = None) -> list[LabeledPicture]:
    """``per_class`` crops of each photo."""
    rng = np.random.default_rng(seed)
    pictures = []
    for label, path in sorted((paths or photo_paths()).items()):
        photo = read_rgb(path)
        pictures += [LabeledPicture(label, encode_png(random_crop(photo, rng)))
                     for _ in range(per_class)]
    return pictures
