#!/usr/bin/env python3
"""Camera-size photos through stages 01 and 03: images/s and the work folder's size.

Builds ``--count`` (1,000) synthetic 4000 x 3000 JPEG photos (quality 90) once: a Fashion-MNIST
item composited on a crop of one of scikit-image's real photographs (the demo's builder, at 400
px), enlarged and given a fixed sensor-grain pattern so that each file is photo-sized (~2 MB).
Classes 0, 2, 4, 6, 8 have 20 labeled images each under ``raw_img/<class>/``, everything else
is in ``raw_img/unlabeled/``. Then runs the stages as a user does, each one a fresh process
(00 labels, 01 background removal, 02 fine-tuning - untimed, 03 extraction): with the default
``WORK_MAX_SIDE`` on every photo, and with ``WORK_MAX_SIDE=0`` (full size, how stage 01 worked
before) on the first ``--baseline-count`` (100), in the same run. Prints images/s of 01, 03 and
01 + 03 together, and the work folder's size beside the raw folder's.

    python3 benchmarks/photo_scale.py                     # ~2.4 GB of photos under runs/
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config import Config  # noqa: E402
from preprocess.demo_dataset import composite, load_backgrounds  # noqa: E402
from preprocess.fashion_mnist import CLASS_NAMES, load_fashion_mnist  # noqa: E402

WIDTH, HEIGHT = 4000, 3000
LABELED_CLASSES, LABELED_PER_CLASS = (0, 2, 4, 6, 8), 20
TIMED_STAGES = ("01_remove_background", "03_extract_features")


def photo_names(count: int, labels: np.ndarray) -> list[str]:
    """Relative paths of the photos: the first LABELED_PER_CLASS of each labeled class in its
    class folder, the rest in unlabeled/."""
    seen: dict[int, int] = {}
    names = []
    for index in range(count):
        label = int(labels[index])
        seen[label] = seen.get(label, 0) + 1
        labeled = label in LABELED_CLASSES and seen[label] <= LABELED_PER_CLASS
        folder = CLASS_NAMES[label] if labeled else "unlabeled"
        names.append(f"{folder}/{index:05d}.jpg")
    return names


def build_photos(raw_dir: Path, count: int, seed: int) -> list[str]:
    """Write the photos (kept between runs: only missing ones are made); their names."""
    items, labels = load_fashion_mnist(Config().FASHION_MNIST_DIR, "test")
    names = photo_names(count, labels)
    missing = [i for i, name in enumerate(names) if not (raw_dir / name).exists()]
    if missing:
        photos = load_backgrounds()
        grain = np.random.default_rng(seed).integers(-6, 7, (HEIGHT, WIDTH, 3)).astype(np.int16)
        for index in tqdm(missing, desc="make 4000x3000 photos", unit="img"):
            image, _ = composite(items[index], np.random.default_rng([seed, index]), photos, 400)
            large = cv2.resize(image, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)
            large = np.clip(large + grain, 0, 255).astype(np.uint8)
            path = raw_dir / names[index]
            path.parent.mkdir(parents=True, exist_ok=True)
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(large, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, 90])
            partial = path.with_name(f".{path.name}.partial")
            partial.write_bytes(data.tobytes())
            os.replace(partial, path)
    return names


def subset(raw_dir: Path, names: list[str], target: Path) -> Path:
    """A raw folder holding the listed photos as hard links (no copies)."""
    for name in names:
        link = target / name
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            os.link(raw_dir / name, link)
    return target


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run_stages(raw_dir: Path, work_dir: Path, settings: dict[str, str]) -> dict[str, float]:
    """Run 00-03 as separate processes on a fresh work folder; seconds per stage."""
    env = {**os.environ, "RAW_DIR": str(raw_dir), "WORK_DIR": str(work_dir), **settings}
    seconds = {}
    for stage in ("00_make_labels", "01_remove_background", "02_finetune",
                  "03_extract_features"):
        start = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / f"{stage}.py")], cwd=ROOT,
                       env=env, check=True, stdout=subprocess.DEVNULL)
        seconds[stage] = time.perf_counter() - start
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="photos (default 1000)")
    parser.add_argument("--baseline-count", type=int, default=100,
                        help="photos for the full-size baseline (default 100)")
    parser.add_argument("--folder", type=Path, default=ROOT / "runs" / "photo_scale")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    raw_dir = args.folder / "raw_img"
    names = build_photos(raw_dir, args.count, args.seed)
    baseline_raw = subset(raw_dir, names[:args.baseline_count], args.folder / "raw_baseline")
    default_side = Config().WORK_MAX_SIDE
    runs = (("full size (WORK_MAX_SIDE=0, before)", baseline_raw, {"WORK_MAX_SIDE": "0"}),
            (f"working size (WORK_MAX_SIDE={default_side}, default)", raw_dir, {}))
    rows = []
    for name, raw, settings in runs:
        count = sum(1 for _ in raw.rglob("*.jpg"))
        work = args.folder / ("work_baseline" if settings else "work")
        shutil.rmtree(work, ignore_errors=True)          # measured from scratch, not resumed
        seconds = run_stages(raw, work, settings)
        rates = {stage: count / seconds[stage] for stage in TIMED_STAGES}
        both = count / sum(seconds[stage] for stage in TIMED_STAGES)
        images = folder_bytes(work / "img") + folder_bytes(work / "masks")
        rows.append((name, count, rates, both, images, folder_bytes(work), folder_bytes(raw)))
        print(f"{name}: {count} photos, stage seconds "
              + ", ".join(f"{stage[:2]} {s:.1f}" for stage, s in seconds.items()), flush=True)
    print(f"\n{os.cpu_count()} cores; stages run as separate processes (TensorFlow start-up "
          "included); 02 not timed")
    print(f"{'run':<44} {'photos':>6} {'01 img/s':>9} {'03 img/s':>9} {'01+03 img/s':>12} "
          f"{'img+masks MB':>13} {'work MB':>8} {'raw MB':>7} {'work/raw':>9}")
    for name, count, rates, both, image_bytes, work_bytes, raw_bytes in rows:
        print(f"{name:<44} {count:>6} {rates[TIMED_STAGES[0]]:>9.1f} "
              f"{rates[TIMED_STAGES[1]]:>9.1f} {both:>12.1f} {image_bytes / 1e6:>13.1f} "
              f"{work_bytes / 1e6:>8.0f} {raw_bytes / 1e6:>7.0f} {work_bytes / raw_bytes:>9.2f}")
    print("(work: everything under WORK_DIR, models and features included)")
    (_, _, _, before, *_), (_, _, _, after, *_) = rows
    print(f"01+03 speed-up: {after / before:.1f}x; target >= 20 img/s and work/raw <= 1")


if __name__ == "__main__":
    main()
