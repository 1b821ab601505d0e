#!/usr/bin/env python3
"""Background-removal speed and mask quality on the demo photos at 299 px, one core.

Prints, for somclust's GrabCut-small method (several work sizes), OpenCV's GrabCut at full size
(the baseline: rectangle 8 px inside the frame, 5 iterations, on a subset: it is slow) and no
removal: images/s on one core (mask only, images already decoded), mean mask IoU against the
true masks, and the speed ratio to the baseline.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common.images import list_images, read_mask, read_rgb  # noqa: E402
from config import Config  # noqa: E402
from preprocess.background import BackgroundParams, foreground_mask, mask_iou  # noqa: E402
from preprocess.demo_dataset import DemoSpec, build_demo_dataset  # noqa: E402


def full_size_grabcut(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), mask, (8, 8, width - 16, height - 16),
                *models, 5, cv2.GC_INIT_WITH_RECT)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


def measure(method, images, masks) -> tuple[float, float]:
    start = time.perf_counter()
    predicted = [method(image) for image in images]
    rate = len(images) / (time.perf_counter() - start)
    return rate, float(np.mean([mask_iou(p, t) for p, t in zip(predicted, masks)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=500, help="images (baseline: n // 20)")
    parser.add_argument("--size", type=int, default=299)
    args = parser.parse_args()
    cv2.setNumThreads(1)                                   # one core
    with tempfile.TemporaryDirectory() as tmp:
        spec = DemoSpec(args.size, (), 0, max(1, args.n // 10), seed=0)
        build_demo_dataset(Config().FASHION_MNIST_DIR, Path(tmp) / "raw", Path(tmp) / "masks",
                           Path(tmp) / "labels.csv", spec)
        paths = list_images(Path(tmp) / "raw")[:args.n]
        images = [read_rgb(p) for p in paths]
        masks = [read_mask(Path(tmp) / "masks" / p.relative_to(Path(tmp) / "raw")) for p in paths]
    print(f"{len(images)} demo photos at {args.size} px, 1 core (cv2.setNumThreads(1))")
    rows = []
    for work_size in (40, 44, 48, 64):
        params = BackgroundParams(work_size=work_size)
        rate, iou = measure(lambda image: foreground_mask(image, params), images, masks)
        rows.append((f"somclust GrabCut at {work_size} px + refine", rate, iou))
    subset = max(5, len(images) // 20)
    base_rate, base_iou = measure(full_size_grabcut, images[:subset], masks[:subset])
    rows.append((f"cv2.grabCut full size, 5 it ({subset} images)", base_rate, base_iou))
    rows.append(("no removal (whole frame)", float("inf"),
                 float(np.mean([mask_iou(np.ones_like(m), m) for m in masks]))))
    print(f"{'method':<46} {'img/s/core':>10} {'IoU':>6} {'speed vs full':>13}")
    for name, rate, iou in rows:
        print(f"{name:<46} {rate:10.1f} {iou:6.3f} {rate / base_rate:12.0f}x")


if __name__ == "__main__":
    main()
