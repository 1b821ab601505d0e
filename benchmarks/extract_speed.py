#!/usr/bin/env python3
"""Feature-extraction throughput: the pipeline (read + decode + resize + forward, cached and
resumable) against the bare forward pass on pre-loaded tensors of the same batch size.

Prints images/s (best of --repeats interleaved runs) of: the bare forward pass; the pipeline with decoding in the main thread
(EXTRACT_LOADER_THREADS=0); the pipeline with batches decoded ahead in threads; and each
pipeline's ratio to the bare forward; for each of --precisions (float32, bfloat16). Images: the default demo's photos (built in a temporary
folder from Fashion-MNIST), or --images DIR.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common.images import list_images, read_rgb, resize_square  # noqa: E402
from config import Config  # noqa: E402
from extract.features import LocalExtractor, extract_features  # noqa: E402
from preprocess.demo_dataset import DemoSpec, build_demo_dataset  # noqa: E402


def demo_images(folder: Path, n: int) -> list[Path]:
    spec = DemoSpec(128, (), 0, max(1, n // 10), seed=0)
    build_demo_dataset(Config().FASHION_MNIST_DIR, folder / "raw", folder / "masks",
                       folder / "labels.csv", spec)
    return list_images(folder / "raw")[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, help="folder of images (default: demo photos)")
    parser.add_argument("-n", type=int, default=1024, help="number of images")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--weights", default="imagenet")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="loader threads of the fast path")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs each")
    parser.add_argument("--precisions", default="float32,bfloat16",
                        help="comma-separated EXTRACT_PRECISION values to measure")
    args = parser.parse_args()

    from finetune.backbones import build_backbone, feature_extractor

    backbone = build_backbone(args.backbone, args.weights, args.image_size)
    models = {precision: feature_extractor(backbone, "", precision)
              for precision in args.precisions.split(",")}
    with tempfile.TemporaryDirectory() as tmp:
        paths = list_images(args.images)[:args.n] if args.images else demo_images(Path(tmp), args.n)
        files = [str(p) for p in paths]
        n, batch = len(paths), args.batch_size
        print(f"{n} images, {args.backbone}/{args.weights} at {args.image_size} px, batch {batch}, "
              f"{os.cpu_count()} CPUs")
        pixels = np.stack([resize_square(read_rgb(p), args.image_size) for p in paths]
                          ).astype(np.float32)
        for model in models.values():
            model.predict_on_batch(pixels[:batch])                   # warm-up / tracing

        def bare_pass(precision: str) -> None:
            for s in range(0, n, batch):
                models[precision].predict_on_batch(pixels[s:s + batch])

        def pipeline_pass(precision: str, threads: int, attempt: int) -> None:
            extractor = LocalExtractor(models[precision].predict_on_batch, args.image_size, threads)
            extract_features(extractor, files, paths,
                             Path(tmp) / f"out{precision}{threads}_{attempt}", "features", batch,
                             show_progress=False)

        rates = {(precision, path): 0.0 for precision in models
                 for path in ("bare", 0, args.threads)}
        for attempt in range(args.repeats):                    # interleaved, best of each
            for precision, path in rates:
                start = time.perf_counter()
                (bare_pass(precision) if path == "bare" else
                 pipeline_pass(precision, path, attempt))
                rates[precision, path] = max(rates[precision, path],
                                             n / (time.perf_counter() - start))
        print(f"{'path':<54} {'img/s':>8} {'vs bare':>8}")
        for precision in models:
            bare = rates[precision, "bare"]
            print(f"{precision + ' bare forward (pre-loaded tensors)':<54} {bare:8.1f} {1.0:8.2f}")
            for threads in (0, args.threads):
                name = (f"{precision} pipeline, decode in main thread" if threads == 0 else
                        f"{precision} pipeline, {threads} loader threads + prefetch")
                rate = rates[precision, threads]
                print(f"{name:<54} {rate:8.1f} {rate / bare:8.2f}")
        if {"float32", "bfloat16"} <= set(models):
            print(f"bfloat16 vs float32: bare forward "
                  f"{rates['bfloat16', 'bare'] / rates['float32', 'bare']:.2f}x, pipeline "
                  f"{rates['bfloat16', args.threads] / rates['float32', args.threads]:.2f}x")

if __name__ == "__main__":
    main()
