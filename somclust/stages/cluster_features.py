"""Stage 04: Self-Organizing Map clustering of the features, with the number of clusters predicted.
With FEATURE_SET=auto the fine-tuned and the un-fine-tuned network's features are both clustered
and the clustering of the higher modularity is kept (cluster.view_choice); each view is clustered
with CLUSTER_RESTARTS SOM draws (seeds), the most modular kept."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from common.cli import parse_config, stage_parser
from common.stage import input_signatures, run_once
from cluster.run import BASELINE, ClusterSettings, cluster_run, known_labels
from cluster.view_choice import view_choice_note
from preprocess.labels import read_labels

KEYS = ("BACKBONE", "RUN_DIR", "FEATURE_SET", "SOM_IMPL", "SOM_ROWS", "SOM_COLS", "SOM_EPOCHS",
        "FEATURE_PCA", "NEIGHBOUR_AVERAGING", "K_MIN", "K_MAX",
        "ANCHOR_SHARE", "REFINE_ITER", "VOTE_ROUNDS", "CLUSTER_LABELED_PER_CLASS",
        "DUPLICATE_SIMILARITY", "DEDUPLICATE", "RAW_DIR", "CLUSTER_RESTARTS")
STAGE_ONLY_KEYS = ("CLUSTER_RESTARTS",)   # not read by the draft round of self-training (stage 02)


def count_reason(part: Mapping[str, Any]) -> str:
    """How stage 04's record says k was chosen: the highest modularity, or the labeled shares
    where they counted more classes (:func:`cluster.criteria.labeled_share_count`)."""
    by_modularity = part.get("modularity_k")
    if by_modularity is None or by_modularity == part["grouping_k"]:
        return "highest modularity"
    return f"labeled shares; the highest modularity gave {by_modularity}"


def open_set_note(part: Mapping[str, Any]) -> str:
    """What the open-set refinement did, from stage 04's record ("" where it did not run)."""
    if "open_set" not in part:
        return ""
    known_like, others = part["open_set"]
    return (f"; open-set refinement: {known_like} unlabeled images to a known class, "
            f"{others} to the others")


def restart_note(clusters: Mapping[str, Any], part: Mapping[str, Any]) -> str:
    """Which SOM draw stage 04 kept, from its record ("" with one draw, or a record from before
    CLUSTER_RESTARTS)."""
    restarts = clusters.get("restarts", 1)
    if restarts < 2 or "seed" not in part:
        return ""
    return f" (the most modular of {restarts} draws: seed {part['seed']})"


def main(argv: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
         prog: str | None = None) -> int:
    args, config = parse_config(stage_parser(__doc__, KEYS, prog), argv, overrides)
    feature_dir = config.run_dir / "features"
    settings = ClusterSettings.from_config(config)

    def work() -> dict:
        labels = read_labels(config.work_dir)
        label_of = {i.file: i.label for i in labels}
        trainable = {i.file for i in labels if i.trainable}
        return cluster_run(feature_dir, config.run_dir, config.FEATURE_SET,
                           known_of=lambda files: known_labels(files, label_of, trainable),
                           settings=settings, raw_dir=config.RAW_DIR)

    fingerprint = {**config.fingerprint(KEYS + ("SEED",)),
                   "inputs": input_signatures(feature_dir, ("features.npy",
                                                             "features_pretrained.npy"))}
    summary = run_once(config.run_dir, "04_cluster", fingerprint, args.force, work,
                       outputs=("clusters.csv", "clusters_model.pkl", "duplicates.csv",
                                "outliers.csv"))
    if summary and summary["clusters"].get("not_fine_tuned"):
        print("the network was not fine-tuned: its features are the un-fine-tuned baseline's, "
              f"so {BASELINE}.csv is not made")
    if summary and "view_modularity" in summary["clusters"]:
        print(view_choice_note(summary["clusters"]))
    for name, part in (summary or {}).items():
        used = part.get("feature_set", config.FEATURE_SET)
        if name == BASELINE and summary["clusters"].get("feature_set") == used:
            print(f"{name}: the same clustering (the un-fine-tuned view was kept)")
            continue
        print(f"{name}: {part['images']} images ({used} features) -> "
              f"k={part['n_clusters']} ({count_reason(part)}); "
              f"SOM {config.SOM_ROWS}x{config.SOM_COLS}{restart_note(summary['clusters'], part)}, "
              f"QE {part['quantization_error']:.4f}{open_set_note(part)}")
        if "duplicate_groups" in part:
            print(f"{part['duplicate_groups']} groups of near-duplicate or identical images "
                  f"({part['duplicate_images']} beyond one per group) -> "
                  f"{config.run_dir}/duplicates.csv; farthest from their cluster first: "
                  f"{config.run_dir}/outliers.csv")
    return 0

