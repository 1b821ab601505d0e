#!/usr/bin/env python3
"""SOM speed and quality: BatchSOM vs MiniSom (reference) vs xpysom (numpy), in the same run.

Prints seconds, s/epoch and quantization error (QE) of each (BatchSOM: the process's first fit,
which compiles its numba kernel, and the best of two more), the matmul floor (one
N x D @ D x units float32 product), the time BatchSOM needs to reach MiniSom's QE (with every sample
in every epoch, and as a mini-batch SOM learning from 2,000 samples per epoch), and the ratios.
Default data: 10,000 x 2,048 non-negative float32 features (ReLU of a 20-component Gaussian
mixture), or --features FILE.npy.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cluster.som import BatchSOM  # noqa: E402


def synthetic_features(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim)).astype(np.float32)
    X = centres[rng.integers(0, 20, n)] + 0.8 * rng.normal(size=(n, dim)).astype(np.float32)
    return np.maximum(X, 0, out=X)


def quantization_error(X: np.ndarray, weights: np.ndarray) -> float:
    return float(_with_weights(weights)._bmu_and_distance(X)[1].mean())


def _with_weights(weights: np.ndarray) -> BatchSOM:
    som = BatchSOM(chunk_size=4096)
    som.weights_ = weights.astype(np.float32)
    return som


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--features", help=".npy file of features (default: synthetic)")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--rows", type=int, default=15)
    parser.add_argument("--cols", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--skip-minisom", action="store_true", help="MiniSom takes ~20 s/epoch")
    args = parser.parse_args()
    X = (np.load(args.features).astype(np.float32) if args.features
         else synthetic_features(args.n, args.dim, 0))
    n, dim, units = X.shape[0], X.shape[1], args.rows * args.cols
    print(f"data {n} x {dim} float32, grid {args.rows} x {args.cols}")
    W = np.random.default_rng(1).random((dim, units), dtype=np.float32)
    X @ W
    floor = min(timed(lambda: X @ W)[1] for _ in range(5))
    results = {}

    def fit_batch_som():
        return BatchSOM(args.rows, args.cols, n_epochs=args.epochs, random_state=0).fit(X)

    som, seconds = timed(fit_batch_som)       # the process's first fit compiles the sum kernel
    results["BatchSOM, first fit"] = (seconds, args.epochs, som.quantization_error_)
    seconds = min(timed(fit_batch_som)[1] for _ in range(2))
    results["BatchSOM"] = (seconds, args.epochs, som.quantization_error_)
    epoch_seconds = min(timed(lambda: som._epoch_sums(X, som.weights_))[1] for _ in range(3))

    from xpysom import XPySom
    xp_som = XPySom(args.rows, args.cols, dim, sigma=max(args.rows, args.cols) / 2,
                    random_seed=0, xp=np)
    with contextlib.redirect_stdout(io.StringIO()):
        _, seconds = timed(lambda: xp_som.train(X, args.epochs))
    results["xpysom (numpy)"] = (seconds, args.epochs,
                                 quantization_error(X, xp_som.get_weights().reshape(units, dim)))

    minisom_qe = None
    if not args.skip_minisom:
        from minisom import MiniSom
        mini = MiniSom(args.rows, args.cols, dim, sigma=max(args.rows, args.cols) / 2,
                       learning_rate=0.5, random_seed=0)
        mini.pca_weights_init(X)
        _, seconds = timed(lambda: mini.train_batch(X, n))
        minisom_qe = quantization_error(X, mini.get_weights().reshape(units, dim))
        results["MiniSom train_batch"] = (seconds, 1, minisom_qe)

    print(f"\n{'implementation':<22} {'seconds':>8} {'epochs':>6} {'s/epoch':>8} {'QE':>9}")
    for name, (seconds, epochs, qe) in results.items():
        print(f"{name:<22} {seconds:8.3f} {epochs:6d} {seconds / epochs:8.4f} {qe:9.3f}")
    print(f"{'matmul floor':<22} {floor:8.4f} {'':6} {floor:8.4f}")
    print(f"\nBatchSOM epoch (BMU + sums): {epoch_seconds:.4f} s = {epoch_seconds / floor:.2f}x "
          "the matmul floor")
    batch_epoch = results["BatchSOM"][0] / args.epochs
    xp_epoch = results["xpysom (numpy)"][0] / args.epochs
    print(f"BatchSOM epoch vs xpysom's (its whole fit / epochs): {xp_epoch / epoch_seconds:.1f}x "
          "faster")
    first_epoch = results["BatchSOM, first fit"][0] / args.epochs
    print(f"BatchSOM vs xpysom per epoch (whole fit incl. init and the final BMU pass): "
          f"{xp_epoch / batch_epoch:.1f}x faster ({xp_epoch / first_epoch:.1f}x on the process's "
          "first fit, which compiles the numba sum kernel once)")
    if minisom_qe is not None:
        report_time_to_quality(X, args.rows, args.cols, args.epochs, minisom_qe,
                               results["MiniSom train_batch"][0])


def report_time_to_quality(X: np.ndarray, rows: int, cols: int, max_epochs: int, target_qe: float,
                           minisom_seconds: float) -> None:
    """Fewest epochs with which BatchSOM (every sample per epoch, or a 2,000-sample subsample per
    epoch) reaches ``target_qe`` on all of X; timed like MiniSom's train_batch (prototypes only,
    best of 3), the final BMU pass timed separately."""
    for max_samples in (None, 2000):
        label = "all samples" if max_samples is None else f"{max_samples} samples"
        for epochs in range(1, 4 * max_epochs + 1):
            def train():
                return BatchSOM(rows, cols, n_epochs=epochs, max_samples=max_samples,
                                compute_labels=False, random_state=0).fit(X)
            som, _ = timed(train)
            qe = quantization_error(X, som.weights_)
            if qe <= target_qe:
                seconds = min(timed(train)[1] for _ in range(3))
                labels_seconds = min(timed(lambda: som.predict(X))[1] for _ in range(3))
                print(f"BatchSOM ({label}/epoch) reaches MiniSom's QE {target_qe:.3f} in {epochs} "
                      f"epoch(s): QE {qe:.3f}, {seconds:.3f} s = "
                      f"{minisom_seconds / seconds:.0f}x sooner than MiniSom; with the BMU of "
                      f"every sample (+{labels_seconds:.3f} s): "
                      f"{minisom_seconds / (seconds + labels_seconds):.0f}x")
                break
        else:
            print(f"BatchSOM ({label}/epoch) did not reach MiniSom's QE")

if __name__ == "__main__":
    main()
