#!/usr/bin/env python3
"""Peak memory at scale: feature extraction and SOM clustering of 10k and 100k images.

Builds 1,000 demo photos once and links them under N names (extraction reads every file, so
the work per image is real), then in a fresh process per step and size: extraction with
EfficientNet-Lite0 (rows written to disk batch by batch), and stage 04's clustering of the
resulting features with every config default (no labels): one SOM draw, then the configured
CLUSTER_RESTARTS draws with the most modular kept - one view; a fine-tuned run's stage 04
clusters two. Prints wall time and peak RSS of each process, and the ratios 100k / 10k and
draws / one draw. Aims: extraction RSS independent of N, clustering <= 4 GB.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXTRACT = """
import sys, numpy as np
sys.path.insert(0, {root!r})
from pathlib import Path
from common.images import list_images
from extract.features import LocalExtractor, extract_features
from finetune.backbones import build_backbone
paths = list_images({images!r})
model = build_backbone("efficientnet_lite0", "imagenet", {size})
extract_features(LocalExtractor(model.predict_on_batch, {size}), [str(p) for p in paths], paths,
                 {out!r}, "features", 64, show_progress=False)
"""
CLUSTER = """
import sys, numpy as np
sys.path.insert(0, {root!r})
from dataclasses import replace
from config import Config
from extract.features import load_feature_set
from cluster.run import ClusterSettings, cluster_feature_set
features, files = load_feature_set({out!r}, "finetuned")
settings = replace(ClusterSettings.from_config(Config()), restarts={restarts})
cluster_feature_set(features, files, np.full(len(files), -1), {out!r}, "clusters", settings)
"""


def run_measured(code: str) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of ``code`` run in a fresh Python process."""
    start = time.perf_counter()
    report = "\nimport resource\nprint('peak_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    process = subprocess.run([sys.executable, "-c", code + report], capture_output=True,
                             text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if process.returncode:
        raise SystemExit(process.stderr[-3000:])
    peak_kib = int(process.stdout.split("peak_kib")[-1])
    return time.perf_counter() - start, peak_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated image counts")
    parser.add_argument("--image-size", type=int, default=75, help="network input side")
    from config import Config
    parser.add_argument("--cluster-restarts", type=int, default=Config().CLUSTER_RESTARTS,
                        help="SOM draws of the measured clustering, beside one draw "
                             "(default: config CLUSTER_RESTARTS)")
    args = parser.parse_args()
    from preprocess.demo_dataset import DemoSpec, build_demo_dataset
    from common.images import list_images

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        build_demo_dataset(Config().FASHION_MNIST_DIR, base / "raw", base / "masks",
                           base / "labels.csv", DemoSpec(128, (), 0, 100, seed=0))
        photos = list_images(base / "raw")
        for n in (int(s) for s in args.sizes.split(",")):
            images, out = Path(tmp) / f"images{n}", Path(tmp) / f"out{n}"
            for i in range(n):
                folder = images / f"{i // 10000:02d}"
                folder.mkdir(parents=True, exist_ok=True)
                os.link(photos[i % len(photos)], folder / f"{i:06d}.png")
            settings = dict(root=str(ROOT), images=str(images), out=str(out), size=args.image_size)
            extract_s, extract_mb = run_measured(EXTRACT.format(**settings))
            one_s, one_mb = run_measured(CLUSTER.format(**settings, restarts=1))
            draws_s, draws_mb = run_measured(CLUSTER.format(**settings,
                                                            restarts=args.cluster_restarts))
            rows.append((n, extract_mb, draws_mb))
            print(f"{n:>7} images: extraction {extract_s:7.1f} s, peak RSS {extract_mb:7.0f} MiB; "
                  f"clustering, one SOM draw {one_s:6.1f} s, peak RSS {one_mb:7.0f} MiB; "
                  f"{args.cluster_restarts} draws {draws_s:6.1f} s (x{draws_s / one_s:.1f}), "
                  f"peak RSS {draws_mb:7.0f} MiB (x{draws_mb / one_mb:.2f})", flush=True)
    if len(rows) > 1:
        (n0, e0, c0), (n1, e1, c1) = rows[0], rows[-1]
        print(f"{n1 // n0}x the images: extraction peak RSS x{e1 / e0:.2f}, "
              f"clustering ({args.cluster_restarts} draws) x{c1 / c0:.2f}")


if __name__ == "__main__":
    main()
