"""Stage 04: Self-Organizing Map clustering of the features, with the number of clusters predicted."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from common.cli import parse_config, stage_parser
from common.errors import SomclustError
from common.stage import input_signatures, run_once
from cluster.run import ClusterSettings, cluster_feature_set, known_labels
from extract.features import load_feature_set, same_features
from preprocess.labels import read_labels

KEYS = ("BACKBONE", "RUN_DIR", "FEATURE_SET", "SOM_IMPL", "SOM_ROWS", "SOM_COLS", "SOM_EPOCHS",
        "FEATURE_PCA", "NEIGHBOUR_AVERAGING", "K_MIN", "K_MAX",
        "ANCHOR_SHARE", "REFINE_ITER", "VOTE_ROUNDS", "CLUSTER_LABELED_PER_CLASS",
        "DUPLICATE_SIMILARITY", "DEDUPLICATE", "RAW_DIR")
BASELINE = "clusters_pretrained"          # the un-fine-tuned network's clustering
BASELINE_FILES = (f"{BASELINE}.csv", f"{BASELINE}_k_scores.csv", f"{BASELINE}_model.pkl")


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


def main(argv: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
         prog: str | None = None) -> int:
    args, config = parse_config(stage_parser(__doc__, KEYS, prog), argv, overrides)
    feature_dir = config.run_dir / "features"
    settings = ClusterSettings.from_config(config)

    def work() -> dict:
        labels = read_labels(config.work_dir)
        label_of = {i.file: i.label for i in labels}
        trainable = {i.file for i in labels if i.trainable}
        summary = {}
        clusterings = {"clusters": config.FEATURE_SET}
        baseline = (config.FEATURE_SET != "pretrained"
                    and (feature_dir / "features_pretrained.npy").exists())
        if baseline and same_features(feature_dir):     # not fine-tuned: no baseline to compare
            for name in BASELINE_FILES:                  # (and none left from an earlier run)
                (config.run_dir / name).unlink(missing_ok=True)
        elif baseline:
            clusterings[BASELINE] = "pretrained"
        for out_name, used in clusterings.items():
            features, files = load_feature_set(feature_dir, used)
            if len(files) < 3:
                raise SomclustError(f"only {len(files)} usable images; clustering needs at least 3")
            summary[out_name] = cluster_feature_set(
                features, files, known_labels(files, label_of, trainable), config.run_dir,
                out_name, settings, config.RAW_DIR if out_name == "clusters" else None)
            summary[out_name]["feature_set"] = used
        summary["clusters"]["baseline"] = BASELINE in clusterings
        return summary

    fingerprint = {**config.fingerprint(KEYS + ("SEED",)),
                   "inputs": input_signatures(feature_dir, ("features.npy",
                                                             "features_pretrained.npy"))}
    summary = run_once(config.run_dir, "04_cluster", fingerprint, args.force, work,
                       outputs=("clusters.csv", "clusters_model.pkl", "duplicates.csv",
                                "outliers.csv"))
    if summary and not summary["clusters"].get("baseline", True):
        print("the network was not fine-tuned: its features are the un-fine-tuned baseline's, "
              f"so {BASELINE}.csv is not made")
    for name, part in (summary or {}).items():
        used = part.get("feature_set", config.FEATURE_SET)
        print(f"{name}: {part['images']} images ({used} features) -> "
              f"k={part['n_clusters']} ({count_reason(part)}); "
              f"SOM {config.SOM_ROWS}x{config.SOM_COLS}, "
              f"QE {part['quantization_error']:.4f}{open_set_note(part)}")
        if "duplicate_groups" in part:
            print(f"{part['duplicate_groups']} groups of near-duplicate or identical images "
                  f"({part['duplicate_images']} beyond one per group) -> "
                  f"{config.run_dir}/duplicates.csv; farthest from their cluster first: "
                  f"{config.run_dir}/outliers.csv")
    return 0

