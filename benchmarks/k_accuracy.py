#!/usr/bin/env python3
"""How often the cluster count (the modularity's k) is within 1 of k, across datasets with known k.

Datasets: generated Gaussian blobs with 3-30 clusters, scikit-learn's digits (k = 10),
Fashion-MNIST test pixels (PCA-50, k = 10) and, when a demo run exists, its features
(WORK_DIR/<backbone>/features). Each goes through what stage 04 does (square root, L2 + PCA, SOM, prototypes
grouped for every k, k̂ the grouping of the highest modularity) twice: with a tenth of the images
of the first half of the classes given as labeled (the competition setting: the known classes
are anchored), and without labels. Prints both k̂ per dataset and the share of datasets with
|k̂ - k| <= 1.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits, make_blobs
from sklearn.decomposition import PCA

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cluster.features import FeaturePreparer  # noqa: E402
from cluster.clusterer import SOMClusterer  # noqa: E402
from config import Config  # noqa: E402
from extract.features import load_feature_set  # noqa: E402
from preprocess.fashion_mnist import load_fashion_mnist  # noqa: E402
from preprocess.labels import read_labels  # noqa: E402


def datasets(seed: int, work_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    found = {}
    for k in (3, 5, 8, 12, 16, 20, 25, 30):
        X, y = make_blobs(n_samples=120 * k, n_features=32, centers=k, cluster_std=5.0,
                          center_box=(-12, 12), random_state=seed + k)
        found[f"blobs k={k}"] = (X.astype(np.float32), y)
    digits = load_digits()
    found["sklearn digits"] = (digits.data.astype(np.float32), digits.target)
    try:
        images, labels = load_fashion_mnist(Config().FASHION_MNIST_DIR, "test")
        rows = np.random.default_rng(seed).choice(len(images), 5000, replace=False)
        pixels = images[rows].reshape(len(rows), -1).astype(np.float32) / 255.0
        found["Fashion-MNIST pixels PCA-50"] = (
            PCA(50, random_state=seed).fit_transform(pixels).astype(np.float32), labels[rows])
    except Exception as error:  # noqa: BLE001 - the dataset is optional here
        print(f"(Fashion-MNIST skipped: {error})")
    for run_dir in sorted(work_dir.glob("*/features")):
        try:
            features, files = load_feature_set(run_dir, "both")
        except Exception:  # noqa: BLE001 - a run without both feature sets
            continue
        truth = {i.file: i.label for i in read_labels(work_dir) if i.label}
        keep = [i for i, f in enumerate(files) if f in truth]
        classes = sorted({truth[files[i]] for i in keep})
        found[f"demo {run_dir.parent.name} features"] = (
            features[keep], np.array([classes.index(truth[files[i]]) for i in keep]))
    return found


def known_subset(y: np.ndarray, seed: int) -> np.ndarray:
    """Labels of a tenth of the samples of the first half of the classes; -1 elsewhere."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    first_half = set(classes[: max(2, len(classes) // 2)].tolist())
    chosen = (rng.random(len(y)) < 0.1) & np.isin(y, list(first_half))
    return np.where(chosen, y.astype(np.int64), -1)     # uint8 labels would wrap -1 to 255


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("work"))
    parser.add_argument("--grid", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--anchor-share", type=float, default=Config().ANCHOR_SHARE,
                        help="label anchoring (ANCHOR_SHARE; 0 = off)")
    args = parser.parse_args()
    settings = ("labels", "no labels")
    print(f"{'dataset':<34} {'k':>3} " + " ".join(f"{c:>10}" for c in settings))
    hits = {c: 0 for c in settings}
    found = datasets(args.seed, args.work_dir)
    for name, (X, y) in found.items():
        start = time.perf_counter()
        k_true = len(np.unique(y))
        prepared = FeaturePreparer(64, random_state=args.seed).fit_transform(X)
        predicted = [SOMClusterer(args.grid, args.grid, 20, k_min=2, k_max=max(20, k_true + 5),
                                  anchor_share=args.anchor_share, random_state=args.seed)
                     .fit(prepared, known).n_clusters_
                     for known in (known_subset(y, args.seed), None)]
        for setting, k in zip(settings, predicted):
            hits[setting] += int(abs(k - k_true) <= 1)
        print(f"{name:<34} {k_true:>3} " + " ".join(f"{k:>10}" for k in predicted)
              + f"   ({time.perf_counter() - start:.0f} s)")
    print(f"{'|k̂ - k| <= 1 on':<34} {len(found):>3} "
          + " ".join(f"{hits[c] / len(found):>10.0%}" for c in settings))


if __name__ == "__main__":
    main()
