#!/usr/bin/env python3
"""Fine-tuning throughput: stage 02's data feeding against a bare training step.

Trains the stage-02 classifier (EfficientNet-Lite0 ImageNet, BatchNorm frozen, Adam) for one
epoch, in images/s, three ways on the same ``-n`` demo photos: on pre-loaded, pre-resized
tensors (the floor: no reading, no augmentation); with stage 02's feeding
(:class:`finetune.data.AugmentedImages`: read, resize, albumentations per batch) without
augmentation; and with the default augmentations. Best of ``--repeats`` epochs each.

    python3 benchmarks/finetune_speed.py
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
from common.images import read_square  # noqa: E402
from config import Config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=512, help="training images")
    parser.add_argument("--image-size", type=int, default=Config().IMAGE_SIZE)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from finetune.augment import build_augmentation
    from finetune.data import AugmentedImages
    from finetune.train import FineTuneSettings, new_classifier
    from benchmarks.extract_speed import demo_images

    config = Config()
    with tempfile.TemporaryDirectory() as tmp:
        paths = demo_images(Path(tmp), args.n)
        labels = np.arange(len(paths)) % 5
        model = new_classifier(FineTuneSettings(backbone="efficientnet_lite0", weights="imagenet",
                                                image_size=args.image_size), 5)
        pixels = np.stack([read_square(p, args.image_size) for p in paths]).astype(np.float32)
        feeds = {
            "pre-loaded tensors (floor)": lambda: (pixels, labels),
            "stage 02 feeding, no augmentation": lambda: (AugmentedImages(
                paths, labels, args.image_size, config.FT_BATCH_SIZE, None, 0, shuffle=True),),
            "stage 02 feeding, default augmentations": lambda: (AugmentedImages(
                paths, labels, args.image_size, config.FT_BATCH_SIZE,
                build_augmentation(config.AUGMENTATIONS, 0), 0, shuffle=True),),
        }
        model.fit(pixels[:64], labels[:64], batch_size=config.FT_BATCH_SIZE, verbose=0)
        rates = dict.fromkeys(feeds, 0.0)
        for _ in range(args.repeats):
            for name, feed in feeds.items():
                data = feed()
                options = {"batch_size": config.FT_BATCH_SIZE} if len(data) == 2 else {}
                start = time.perf_counter()
                model.fit(*data, epochs=1, verbose=0, shuffle=True, **options)
                rates[name] = max(rates[name], len(paths) / (time.perf_counter() - start))
    floor = rates["pre-loaded tensors (floor)"]
    print(f"{len(paths)} images, {args.image_size} px, batch {config.FT_BATCH_SIZE}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'feeding':<42} {'img/s':>8} {'vs floor':>9}")
    for name, rate in rates.items():
        print(f"{name:<42} {rate:>8.1f} {rate / floor:>8.2f}x")


if __name__ == "__main__":
    main()
