#!/usr/bin/env python3
"""What a review fed back into fine-tuning gives (``FT_FROM_REVIEW``), on a finished demo run.

The review is simulated: every cluster is named after the majority true label of its images, and
``--moves`` (50) unlabeled images in a cluster of another name are moved to the cluster named
after their true label (a seeded draw), as a user looking through the clusters would. The run
folder is copied to ``<run>_review``, the review saved there (clusters_reviewed.csv), and stages
02-05 run again with ``FT_FROM_REVIEW=true``; the original and the new clustering are scored side
by side on the unlabeled images the review did not move (NMI, purity, ARI, ACC, k̂).

    python3 benchmarks/review_feedback.py --work-dir work      # after make demo
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluate.metrics import score_all  # noqa: E402
from evaluate.review import ReviewState  # noqa: E402
from evaluate.run import read_clusters  # noqa: E402
from preprocess.labels import read_labels  # noqa: E402


def simulate_review(state: ReviewState, truth: dict[str, str], unlabeled: set[str], moves: int,
                    seed: int) -> list[str]:
    """Name every cluster after its majority label; move ``moves`` misplaced unlabeled images to
    the largest cluster named after their label. Returns the moved files."""
    home: dict[str, tuple[int, int]] = {}                     # label -> (size, cluster)
    for cluster in state.clusters():
        if cluster["labels"]:
            label, _ = cluster["labels"][0]
            state.rename(cluster["id"], label)
            home[label] = max(home.get(label, (0, -1)), (cluster["size"], cluster["id"]))
    misplaced = [f for f in state.files if f in unlabeled and truth[f] in home
                 and state.cluster_of[f] != home[truth[f]][1]]
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(misplaced), min(moves, len(misplaced)), replace=False))
    moved = [misplaced[i] for i in chosen]
    for file in moved:
        state.move([file], home[truth[file]][1])
    state.save()
    return moved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("work"))
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--moves", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import somclust

    start = time.perf_counter()
    run_dir = args.work_dir / args.backbone
    reviewed_dir = run_dir.with_name(f"{run_dir.name}_review")
    if reviewed_dir.exists():
        shutil.rmtree(reviewed_dir)
    shutil.copytree(run_dir, reviewed_dir, ignore=shutil.ignore_patterns("report"))
    labels = read_labels(args.work_dir)
    truth = {i.file: i.label for i in labels if i.label}
    unlabeled = {i.file for i in labels if i.label and not i.trainable}
    state = ReviewState(args.work_dir, reviewed_dir)
    moved = simulate_review(state, truth, unlabeled, args.moves, args.seed)
    named = Counter(n for n in state.names.values())
    print(f"simulated review: {len(named)} cluster names, {len(moved)} images moved "
          f"to their true cluster")
    pipeline = somclust.Pipeline(WORK_DIR=str(args.work_dir), BACKBONE=args.backbone,
                                 RUN_DIR=str(reviewed_dir), FT_FROM_REVIEW=True)
    pipeline.run(stages=somclust.api.STAGES[2:6])
    scored = sorted(unlabeled - set(moved))
    y_true = [truth[f] for f in scored]
    print(f"\n{len(scored)} unlabeled images not moved by the review; "
          f"{time.perf_counter() - start:.0f} s")
    print(f"{'clustering':<58} {'NMI':>6} {'purity':>6} {'ARI':>6} {'ACC':>6} {'k':>6}")
    for name, path in (("original run", run_dir / "clusters.csv"),
                       ("after the review fed back (FT_FROM_REVIEW)",
                        reviewed_dir / "clusters.csv")):
        clusters = read_clusters(path)
        score = score_all(y_true, [clusters[f] for f in scored])
        print(f"{name:<58} {score['NMI']:6.3f} {score['purity']:6.3f} {score['ARI']:6.3f} "
              f"{score['ACC']:6.3f} {score['k_pred']:>3}/{score['k_true']}")


if __name__ == "__main__":
    main()
