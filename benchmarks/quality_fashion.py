#!/usr/bin/env python3
"""Competition-style quality on Fashion-MNIST: fine-tune on the train images of classes
{0,2,4,6,8}, then cluster the whole 10,000-image test split (all 10 classes) with k predicted.

Runs the real pipeline (stages 00-05 through the Python API, BG_METHOD=none: the items are on
black) in --work-dir, then prints NMI, purity, ARI, Hungarian accuracy and k̂ on the test images
for: the pipeline (SOM, k predicted) with FEATURE_SET=auto (the clustering of the fine-tuned or
the un-fine-tuned features, whichever has the higher modularity) and on fine-tuned, un-fine-tuned
and both feature sets; the same
features with KMeans / agglomerative (Ward) at the SOM's k̂,
HDBSCAN (its own k, noise counted as one cluster) and KMeans at the true k; a co-association
ensemble of KMeans partitions of the three feature sets (at the default SOM's k̂); and pixels
PCA-50 + KMeans (true k).
Then the SOM clustering again with --cluster-seeds SOM seeds, with the configured label
anchoring and without it (ANCHOR_SHARE=0), each with the configured refinement of the clusters
on the images and without it (REFINE_ITER=0), and FEATURE_SET=auto's choice on each seed: mean ±
sd of the scores and each k̂.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common.atomic_io import atomic_write_csv, atomic_write_bytes  # noqa: E402
from common.images import encode_png  # noqa: E402
from config import Config  # noqa: E402
from preprocess.fashion_mnist import CLASS_NAMES, load_fashion_mnist  # noqa: E402

LABELED = (0, 2, 4, 6, 8)
TRAIN_PER_CLASS = 6000                  # Fashion-MNIST train images of each class


def write_dataset(raw: Path, labels_csv: Path, per_class: int, test_images: int, seed: int) -> None:
    """Labeled train images in raw/<class>/, test images in raw/unlabeled/ + a labels CSV
    (kept when already written with the same sizes, else an error naming the folder)."""
    if labels_csv.exists():
        written = len(list((raw / CLASS_NAMES[LABELED[0]]).glob("*.png")))
        if written != min(per_class, TRAIN_PER_CLASS):
            raise SystemExit(f"{raw} holds {written} train images per labeled class, not "
                             f"{per_class}: choose another --work-dir or delete {raw.parent}")
        return
    directory = Config().FASHION_MNIST_DIR
    train_x, train_y = load_fashion_mnist(directory, "train")
    test_x, test_y = load_fashion_mnist(directory, "test")
    rng = np.random.default_rng(seed)
    for label in LABELED:
        for i in rng.permutation(np.flatnonzero(train_y == label))[:per_class]:
            atomic_write_bytes(raw / CLASS_NAMES[label] / f"train_{i:05d}.png", encode_png(train_x[i]))
    rows = []
    for i in range(min(test_images, len(test_x))):
        file = f"unlabeled/test_{i:05d}.png"
        atomic_write_bytes(raw / file, encode_png(test_x[i]))
        rows.append((file, CLASS_NAMES[test_y[i]], 0))
    atomic_write_csv(labels_csv, ("file", "label", "trainable"), rows)


def co_association(views: list[np.ndarray], k: int, seed: int) -> np.ndarray:
    """Consensus of KMeans partitions (k - 2, k, k + 2 clusters x 3 seeds on every view): average
    linkage on the fraction of partitions that separate two images."""
    from sklearn.cluster import AgglomerativeClustering, KMeans

    parts = [KMeans(size, n_init=1, random_state=seed + s).fit_predict(view)
             for view in views for size in (max(2, k - 2), k, k + 2) for s in range(3)]
    one_hot = np.hstack([np.eye(p.max() + 1, dtype=np.float32)[p] for p in parts])
    together = one_hot @ one_hot.T / len(parts)
    return AgglomerativeClustering(k, metric="precomputed",
                                   linkage="average").fit_predict(1.0 - together)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path,
                        help="default: runs/fashion_<per-class>")
    parser.add_argument("--per-class", type=int, default=TRAIN_PER_CLASS,
                        help="train images per labeled class (6,000 = all of them)")
    parser.add_argument("--test-images", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=Config().IMAGE_SIZE,
                        help="network input side in pixels (config IMAGE_SIZE)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cluster-seeds", type=int, default=5,
                        help="also cluster each feature set with this many seeds (SEED = 0, 10, "
                             "20, ...) and print the spread of the scores and of k̂")
    args = parser.parse_args()
    import somclust
    from evaluate.baselines import pca_kmeans, pixel_matrix
    from evaluate.metrics import score_all
    from cluster.run import ClusterSettings, known_labels
    from cluster.view_choice import kept_view, view_choice_note
    from common.stage import read_record
    from extract.features import load_feature_set
    from preprocess.labels import read_labels
    from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans
    from sklearn.decomposition import PCA

    start = time.perf_counter()
    work = args.work_dir or Path(f"runs/fashion_{args.per_class}")
    write_dataset(work / "raw_img", work / "raw_labels.csv", args.per_class, args.test_images,
                  args.seed)
    settings = dict(WORK_DIR=str(work), BACKBONE="efficientnet_lite0", WEIGHTS="imagenet",
                    BG_METHOD="none", FT_EPOCHS=args.epochs, SEED=args.seed,
                    IMAGE_SIZE=args.image_size)
    results, spreads, views = [], [], []
    seed_fits = {}          # feature set -> (clusterer, test rows) of each SOM seed, as configured
    # one network, fine-tuned with the default FEATURE_SET (self-training clusters the draft's
    # features of that set); each feature set is then clustered on its features
    somclust.Pipeline(**settings).run(stages=somclust.api.STAGES[:4])
    for feature_set in ("finetuned", "pretrained", "both"):
        pipeline = somclust.Pipeline(**settings, FEATURE_SET=feature_set)
        pipeline.run(stages=somclust.api.STAGES[4:5])
        truth = {i.file: i.label for i in read_labels(work) if i.file.startswith("unlabeled/")}
        clusters = pipeline.clusters()
        test = [f for f in clusters if f in truth]
        y = np.array([truth[f] for f in test])
        results.append((f"{feature_set} features + SOM, k predicted",
                        score_all(y, [clusters[f] for f in test])))
        features, files = load_feature_set(pipeline.config.run_dir / "features", feature_set)
        row_of = {f: i for i, f in enumerate(files)}
        config, labels = pipeline.config, read_labels(work)
        known = known_labels(files, {i.file: i.label for i in labels},
                             {i.file for i in labels if i.trainable})
        cluster_settings = ClusterSettings.from_config(config)
        prepared = cluster_settings.preparer().fit_transform(features)
        test_rows = [row_of[f] for f in test]
        for share in sorted({config.ANCHOR_SHARE, 0.0}, reverse=True):
            for refine in sorted({config.REFINE_ITER, 0}, reverse=True):
                fits = [replace(cluster_settings, anchor_share=share, refine_iter=refine,
                                seed=10 * som_seed).clusterer().fit(prepared, known)
                        for som_seed in range(args.cluster_seeds)]
                scores = [score_all(y, model.labels_[test_rows]) for model in fits]
                if (share, refine) == (config.ANCHOR_SHARE, config.REFINE_ITER):
                    seed_fits[feature_set] = [(model, test_rows) for model in fits]
                if scores:
                    spreads.append((f"{feature_set} + SOM, ANCHOR_SHARE={share:g}, "
                                    f"REFINE_ITER={refine}", scores))
        reduced = PCA(64, random_state=args.seed).fit_transform(features[test_rows])
        views.append(reduced)
        k = results[-1][1]["k_pred"]
        for name, model in (("KMeans, k = SOM's k̂", KMeans(k, n_init=10, random_state=args.seed)),
                            ("Ward, k = SOM's k̂", AgglomerativeClustering(k)),
                            ("HDBSCAN, its own k", HDBSCAN(max(10, len(test) // 100), copy=True))):
            results.append((f"{feature_set} features + {name}",
                            score_all(y, model.fit_predict(reduced))))
        results.append((f"{feature_set} features + KMeans, true k",
                        score_all(y, KMeans(10, n_init=10, random_state=args.seed).fit_predict(reduced))))
    pipeline = somclust.Pipeline(**settings, FEATURE_SET="auto")    # both views, one kept
    pipeline.run(stages=somclust.api.STAGES[4:5])
    kept = read_record(pipeline.config.run_dir, "04_cluster")["summary"]["clusters"]
    clusters = pipeline.clusters()
    results.insert(0, (f"auto ({kept['feature_set']} kept) + SOM, k predicted",
                       score_all(y, [clusters[f] for f in test])))
    if seed_fits.get("pretrained"):          # the same choice on each seed's two clusterings
        chosen = []
        for tuned, untuned in zip(seed_fits["finetuned"], seed_fits["pretrained"]):
            pair = {"finetuned": tuned, "pretrained": untuned}
            chosen.append(pair[kept_view({view: fit[0] for view, fit in pair.items()})])
        spreads.insert(0, ("auto + SOM (one draw a seed; the more modular view)",
                           [score_all(y, model.labels_[rows]) for model, rows in chosen]))
    results.append((f"co-association ensemble, k = SOM's k̂ ({k})",
                    score_all(y, co_association(views, k, args.seed))))
    image_of = {r: work / "raw_img" / r for r in test}
    pixels = pixel_matrix([image_of[f] for f in test], side=28)
    results.append(("pixels PCA-50 + KMeans, true k", score_all(y, pca_kmeans(pixels, 10, args.seed))))
    print(f"\nFashion-MNIST test split ({len(test)} images, 10 classes); fine-tuned on "
          f"{args.per_class} train images x classes {LABELED}, {args.epochs} epochs; "
          f"EfficientNet-Lite0 ImageNet, {args.image_size} px; {time.perf_counter() - start:.0f} s")
    if "view_modularity" in kept:
        print(view_choice_note(kept))
    print(f"{'method':<58} {'NMI':>6} {'purity':>6} {'ARI':>6} {'ACC':>6} {'k':>5}")
    for name, s in results:
        print(f"{name:<58} {s['NMI']:6.3f} {s['purity']:6.3f} {s['ARI']:6.3f} {s['ACC']:6.3f} "
              f"{s['k_pred']:>2}/{s['k_true']}")
    if spreads:
        print(f"\nThe same clustering with SEED = 0, 10, ..., {10 * (args.cluster_seeds - 1)} "
              f"(mean ± sd over seeds; k̂, NMI and purity of each seed)")
        print(f"{'method':<58} {'NMI':>13} {'purity':>13} {'ARI':>13}  k̂; NMI; purity")
        for name, scores in spreads:
            cells = [f"{np.mean([s[m] for s in scores]):.3f} ± {np.std([s[m] for s in scores]):.3f}"
                     for m in ("NMI", "purity", "ARI")]
            each = [", ".join(f"{s[m]:.3f}" for s in scores) for m in ("NMI", "purity")]
            print(f"{name:<58} {cells[0]:>13} {cells[1]:>13} {cells[2]:>13}  "
                  f"{', '.join(str(s['k_pred']) for s in scores)}; {each[0]}; {each[1]}")


if __name__ == "__main__":
    main()
