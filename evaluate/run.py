"""Stage 05 over a run: score every clustering and the baselines, update the leaderboard."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from common.atomic_io import atomic_write_text, read_csv_rows
from common.errors import SomclustError
from common.run_index import load_run_index
from common.stage import read_record
from evaluate.baselines import pca_kmeans, pixel_matrix
from evaluate.leaderboard import update_leaderboard
from evaluate.metrics import score_all
from extract.features import FEATURE_SET_NAMES, clustered_feature_set, load_features
from preprocess.labels import read_labels

LOG = logging.getLogger("somclust")


def read_clusters(path: Path) -> dict[str, int]:
    """{file: cluster} of a clusters CSV written by stage 04."""
    return {r["file"]: int(r["cluster"]) for r in read_csv_rows(path)}


def write_predictions(work_dir: Path, run_dir: Path, clusters: dict[str, int]) -> Path:
    """labels_pred.txt: one cluster per line in img_paths.txt order (-1 = not clustered)."""
    order = (work_dir / "img_paths.txt").read_text(encoding="utf-8").splitlines()
    return atomic_write_text(run_dir / "labels_pred.txt",
                             "".join(f"{clusters.get(f, -1)}\n" for f in order))


def main_method(record: dict) -> str:
    """The leaderboard's name of stage 04's clustering, from its record: the features it
    clustered, prefixed with ``auto:`` where FEATURE_SET=auto kept them (so a kept un-fine-tuned
    view is told from the baseline)."""
    chosen = "view_modularity" in record.get("summary", {}).get("clusters", {})
    return (f"{'auto: ' if chosen else ''}{FEATURE_SET_NAMES[clustered_feature_set(record)]} "
            "+ SOM, k predicted")


def evaluate_run(work_dir: str | Path, run_dir: str | Path, img_dir: str | Path, run_key: str,
                 seed: int) -> dict:
    """Score the run's clusterings and baselines on images with a true label; the leaderboard
    is shared by every run of ``work_dir``."""
    work_dir, run_dir, img_dir = Path(work_dir), Path(run_dir), Path(img_dir)
    main_path = run_dir / "clusters.csv"
    if not main_path.exists():
        raise SomclustError(f"{main_path} not found: run 04_cluster.py first")
    clusters = read_clusters(main_path)
    write_predictions(work_dir, run_dir, clusters)
    labels = read_labels(work_dir)
    truth = {i.file: i.label for i in labels if i.label}
    trainable = {i.file for i in labels if i.trainable}
    scored = [f for f in clusters if f in truth]
    if not truth:
        LOG.info("no true labels: nothing to score (the clusters are in labels_pred.txt)")
        return {"rows": [], "scored_images": 0}
    if len(scored) < 2 or len({truth[f] for f in scored}) < 2:
        LOG.warning("fewer than 2 true classes among the clustered images: nothing to score "
                    "(labels_pred.txt was written)")
        return {"rows": [], "scored_images": len(scored)}
    y_true = np.array([truth[f] for f in scored])
    k_true = len(set(y_true))
    date = time.strftime("%Y-%m-%d")
    rows = []

    def add(method: str, y_pred, among: list[str] | None = None) -> None:
        among = scored if among is None else among
        rows.append({"run": run_key, "method": method,
                     **score_all([truth[f] for f in among], y_pred), "images": len(among),
                     "date": date})

    unseen = [f for f in scored if f not in trainable]     # the score without the labeled images
    if len(unseen) == len(scored) or len({truth[f] for f in unseen}) < 2:
        unseen = None
    clustered = main_method(read_record(run_dir, "04_cluster"))
    clusterings = {"clusters": clustered,
                   "clusters_pretrained": "not fine-tuned + SOM, k predicted",
                   "clusters_reviewed": f"{clustered}, reviewed (08_review.py)"}
    for name, method in clusterings.items():
        path = run_dir / f"{name}.csv"
        if path.exists():
            assigned = read_clusters(path)
            add(method, [assigned.get(f, -1) for f in scored])
            if name == "clusters" and unseen is not None:
                add(f"{method} (images not used for training)",
                    [assigned.get(f, -1) for f in unseen], unseen)
    features, files = load_features(run_dir / "features", "features")
    row_of = {f: i for i, f in enumerate(files)}
    add("fine-tuned features, PCA-50 + KMeans (true k)",
        pca_kmeans(features[[row_of[f] for f in scored]], k_true, seed, l2_normalise=True))
    image_of = {r.file: r.image_path for r in load_run_index(work_dir, img_dir)}
    pixels = pixel_matrix([image_of[f] for f in scored])
    add("pixels, PCA-50 + KMeans (true k)", pca_kmeans(pixels, k_true, seed))
    board = update_leaderboard(work_dir / "leaderboard.csv", rows)
    return {"rows": rows, "scored_images": len(scored), "leaderboard_rows": len(board),
            "y_true": y_true.tolist(), "y_pred": [clusters[f] for f in scored]}
