#!/usr/bin/env python3
"""Feature-extraction throughput per runtime and precision, for both backbones at 96 and 224 px.

For each backbone and size (``--configs``) and each runtime (Keras, OpenVINO) and precision
(float32, bfloat16): images/s of the bare forward pass on pre-loaded tensors, and of the
pipeline (read + decode + resize in loader threads + forward + rows written, cached and
resumable) at the same batch size; the bare forward's ratio to Keras float32 and the pipeline's
ratio to its own bare forward. Then stage 03 as it runs: two networks (fine-tuned and
un-fine-tuned; here the same network twice) fed by one decode of each image, against the two
bare forward passes and against two one-network pipelines (each decoding every image, as stage
03 did before). Best of ``--repeats`` interleaved runs. Images: the default demo's
photos (built in a temporary folder from Fashion-MNIST), or ``--images DIR``. InceptionV3 runs
with random weights (ImageNet's cannot be downloaded here; the speed is the same).

    python3 benchmarks/extract_speed.py                      # every row, one run (~10 min)
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
from common.images import list_images, read_square  # noqa: E402
from config import Config  # noqa: E402
from extract.features import (LocalExtractor, extract_feature_files,  # noqa: E402
                              extract_features)
from extract.runtime import convert_to_openvino, openvino_predictor  # noqa: E402
from preprocess.demo_dataset import DemoSpec, build_demo_dataset  # noqa: E402

DEFAULT_CONFIGS = ("efficientnet_lite0:imagenet:96,efficientnet_lite0:imagenet:224,"
                   "inception_v3:none:96,inception_v3:none:224")


def demo_images(folder: Path, n: int) -> list[Path]:
    spec = DemoSpec(128, (), 0, max(1, n // 10), seed=0)
    build_demo_dataset(Config().FASHION_MNIST_DIR, folder / "raw", folder / "masks",
                       folder / "labels.csv", spec)
    return list_images(folder / "raw")[:n]


def predictors(backbone: str, weights: str, size: int, runtimes: list[str],
               precisions: list[str], folder: Path) -> dict[tuple[str, str], object]:
    """{(runtime, precision): pixels -> features} for one backbone at one size."""
    from finetune.backbones import build_backbone, feature_extractor

    network = build_backbone(backbone, weights, size)
    found = {}
    for runtime in runtimes:
        if runtime == "openvino":
            xml = convert_to_openvino(feature_extractor(network),
                                      folder / f"{backbone}_{size}_000000000000.xml")
        for precision in precisions:
            found[runtime, precision] = (
                openvino_predictor(xml, precision) if runtime == "openvino" else
                feature_extractor(network, "", precision).predict_on_batch)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, help="folder of images (default: demo photos)")
    parser.add_argument("-n", type=int, default=512, help="number of images")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS,
                        help="comma-separated backbone:weights:size")
    parser.add_argument("--runtimes", default="keras,openvino")
    parser.add_argument("--precisions", default="float32,bfloat16")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="loader threads (the default)")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs each")
    args = parser.parse_args()
    runtimes, precisions = args.runtimes.split(","), args.precisions.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = list_images(args.images)[:args.n] if args.images else demo_images(Path(tmp), args.n)
        files = [str(p) for p in paths]
        n, batch = len(paths), args.batch_size
        print(f"{n} images, batch {batch}, {args.threads} loader threads, {os.cpu_count()} CPUs",
              flush=True)
        for config in args.configs.split(","):
            backbone, weights, size = config.split(":")
            size = int(size)
            predict = predictors(backbone, weights, size, runtimes, precisions, Path(tmp))
            pixels = np.stack([read_square(p, size) for p in paths])
            for function in predict.values():
                function(pixels[:batch])                              # warm-up / tracing

            def bare_pass(key) -> None:
                for start in range(0, n, batch):
                    predict[key](pixels[start:start + batch])

            def pipeline_pass(key, attempt: int) -> None:
                extractor = LocalExtractor(predict[key], size, args.threads)
                extract_features(extractor, files, paths, Path(tmp) / f"{config}{key}{attempt}",
                                 "features", batch, show_progress=False)

            def two_network_pass(key, attempt: int) -> None:
                # the same network as a second function: one function given twice runs once
                second = predict[key]
                extractor = LocalExtractor([predict[key], lambda pixels: second(pixels)], size,
                                           args.threads)
                extract_feature_files(extractor, files, paths,
                                      Path(tmp) / f"{config}{key}{attempt}two",
                                      {"features": "", "features_pretrained": ""}, batch,
                                      show_progress=False)

            passes = {"bare": lambda key, _: bare_pass(key), "pipeline": pipeline_pass,
                      "two networks": two_network_pass}
            rates = {(key, path): 0.0 for key in predict for path in passes}
            for attempt in range(args.repeats):                  # interleaved, best of each
                for key, path in rates:
                    start = time.perf_counter()
                    passes[path](key, attempt)
                    rates[key, path] = max(rates[key, path], n / (time.perf_counter() - start))
            reference = rates[("keras", "float32"), "bare"] if ("keras", "float32") in predict \
                else float("nan")
            for key in predict:
                bare, pipeline = rates[key, "bare"], rates[key, "pipeline"]
                both = rates[key, "two networks"]
                rows.append((backbone, size, *key, bare, bare / reference, pipeline,
                             pipeline / bare, both, both / (bare / 2), both / (pipeline / 2)))
                print(f"{backbone} {size} px {key[0]} {key[1]}: bare {bare:.1f} img/s, "
                      f"pipeline {pipeline:.1f} img/s, two networks {both:.1f} img/s", flush=True)
    print(f"\n{'backbone':<18} {'px':>4} {'runtime':<9} {'precision':<9} {'bare img/s':>11} "
          f"{'vs Keras f32':>13} {'pipeline img/s':>15} {'vs own bare':>12} "
          f"{'stage 03 img/s':>15} {'vs 2 bare':>10} {'vs 2 pipelines':>15}")
    for (backbone, size, runtime, precision, bare, speedup, pipeline, ratio, both, both_ratio,
         gain) in rows:
        print(f"{backbone:<18} {size:>4} {runtime:<9} {precision:<9} {bare:>11.1f} "
              f"{speedup:>12.2f}x {pipeline:>15.1f} {ratio:>11.2f}x {both:>15.1f} "
              f"{both_ratio:>9.2f}x {gain:>14.2f}x")


if __name__ == "__main__":
    main()
