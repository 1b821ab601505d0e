#!/usr/bin/env python3
"""Feature-extraction throughput: the pipeline (read + decode + resize + forward, cached and
resumable) against the bare forward pass on pre-loaded tensors of the same batch size.

Prints images/s (best of --repeats interleaved runs) of: the bare forward pass; the pipeline with decoding in the main thread
(EXTRACT_LOADER_THREADS=0); the pipeline with batches decoded ahead in threads; and each
pipeline's ratio to the bare forward. Images: the default demo's photos (built in a temporary
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
    args = parser.parse_args()

    from finetune.backbones import build_backbone

    model = build_backbone(args.backbone, args.weights, args.image_size)
    with tempfile.TemporaryDirectory() as tmp:
        paths = list_images(args.images)[:args.n] if args.images else demo_images(Path(tmp), args.n)
        files = [str(p) for p in paths]
        n, batch = len(paths), args.batch_size
        print(f"{n} images, {args.backbone}/{args.weights} at {args.image_size} px, batch {batch}, "
              f"{os.cpu_count()} CPUs")
        pixels = np.stack([resize_square(read_rgb(p), args.image_size) for p in paths]
                          ).astype(np.float32)
        model.predict_on_batch(pixels[:batch])                       # warm-up / tracing

        def bare_pass() -> None:
            for s in range(0, n, batch):
                model.predict_on_batch(pixels[s:s + batch])

        def pipeline_pass(threads: int, attempt: int) -> None:
            extract_features(LocalExtractor(model.predict_on_batch, args.image_size, threads),
                             files, paths, Path(tmp) / f"out{threads}_{attempt}", "features",
                             batch, show_progress=False)

        rates = {"bare": 0.0, 0: 0.0, args.threads: 0.0}
        for attempt in range(args.repeats):                    # interleaved, best of each
            for key in rates:
                start = time.perf_counter()
                bare_pass() if key == "bare" else pipeline_pass(key, attempt)
                rates[key] = max(rates[key], n / (time.perf_counter() - start))
        bare = rates.pop("bare")
        print(f"{'path':<44} {'img/s':>8} {'vs bare':>8}")
        print(f"{'bare forward (pre-loaded tensors)':<44} {bare:8.1f} {1.0:8.2f}")
        for threads, rate in rates.items():
            name = ("pipeline, decode in main thread" if threads == 0 else
                    f"pipeline, {threads} loader threads + prefetch")
            print(f"{name:<44} {rate:8.1f} {rate / bare:8.2f}")


if __name__ == "__main__":
    main()
