"""Stage 02's second fine-tuning round (``SELF_TRAIN_SHARE``): the classes no label names trained on
as the draft clustering finds them.

Fine-tuning on the known classes alone pulls images of new classes onto them. So stage 02 first
fine-tunes a draft network on the labeled images (in ``RUN_DIR/draft``), extracts its features
of every image and clusters them as stage 04 does (one SOM draw: ``CLUSTER_RESTARTS`` is stage
04's alone); each draft cluster that is no known class's
cluster (none of the known classes has most of its labeled images there) is taken for a new class,
and the share of its unlabeled images nearest their centre joins the labeled images as a class of
its own when the run's network is fine-tuned again, from the pretrained weights.
On the quality suite (labels drawn image by image, fine-tuning seeds 0-2) this raised the mean
NMI on the unlabeled images by 0.015 (glyphs +0.07, whose new classes fine-tuning had merged into
known ones; GNOME icons -0.005) and put k̂ within 1 of k on 74 % of the runs instead of 70 %
(docs/experiments.md, 2026-12-03 afternoon).

A folder without labels of two classes has no network to fine-tune first: the pretrained one is
the draft, and every draft cluster is new, so the run's network is fine-tuned on the clusters'
cores alone. On the suite's six sets without labels (fine-tuning seeds 0-2) that raised the mean
NMI from 0.586 to 0.616 (p = 0.019; digits +0.08, glyphs +0.10, GNOME icons -0.013; k̂ within 1
of k on 44 of 72 runs instead of 50; docs/experiments.md, 2026-12-03 late night)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np

from common.atomic_io import atomic_copy_file, atomic_write_bytes
from cluster.refine import pinned_clusters
from common.run_index import ImageRecord
from config import Config
from finetune.image_source import SOURCE_FILE

if TYPE_CHECKING:                       # TensorFlow loads only when stage 02 fine-tunes
    from finetune.train import FineTuneSettings

DRAFT_DIR = "draft"            # RUN_DIR sub-folder of the first round: model, features, clusters
MIN_CLUSTER_SIZE = 4           # smaller draft clusters are not taken for a class
MIN_CORE_SIZE = 2              # images a new class is trained on at least
# the draft network's files the run keeps when no new class is found (its model is the run's)
DRAFT_MODEL_FILES = ("finetuned.keras", "classes.json", "training_log.csv", "state.json")


def new_cluster_cores(features: np.ndarray, clusters: np.ndarray, known: np.ndarray,
                      share: float, min_size: int = MIN_CLUSTER_SIZE) -> dict[int, np.ndarray]:
    """{cluster: row indices} of each new cluster - one that is no known class's cluster (the
    cluster holding most labeled rows of the class; ``known``: each row's class index, -1 where
    unlabeled) and has at least ``min_size`` unlabeled rows: the ``share`` of its unlabeled rows
    with the largest dot product with their mean (at least :data:`MIN_CORE_SIZE`), nearest
    first. A few labeled strays (left-out labeled images assigned alone where a class has
    thousands) do not make a cluster known. ``features``: L2-normalised rows."""
    features = np.asarray(features, dtype=np.float32)
    clusters, known = np.asarray(clusters), np.asarray(known)
    if not (len(features) == len(clusters) == len(known)):
        raise ValueError(f"features, clusters and known differ in length: {len(features)}, "
                         f"{len(clusters)}, {len(known)}")
    if not 0 < share <= 1:
        raise ValueError(f"share={share} must be in (0, 1]")
    class_clusters = set(pinned_clusters(clusters, known)[known >= 0].tolist())
    cores = {}
    for cluster in np.unique(clusters):
        members = np.flatnonzero((clusters == cluster) & (known < 0))
        if int(cluster) in class_clusters or len(members) < min_size:
            continue
        centre = features[members].mean(axis=0)
        nearest = members[np.argsort(-(features[members] @ centre), kind="stable")]
        cores[int(cluster)] = nearest[:max(MIN_CORE_SIZE, int(len(members) * share))]
    return cores


def class_names(clusters: list[int], taken: set[str]) -> dict[int, str]:
    """A class name for each new cluster that no labeled class already has."""
    names = {}
    for cluster in clusters:
        name = f"(new cluster {cluster})"
        while name in taken:
            name = f"({name})"
        names[cluster] = name
    return names


def self_training_note(summary: Mapping[str, int], share: float) -> str:
    """Stage 02's line on the draft round, from its record's ``self_training``."""
    if not summary.get("known_classes", 1) and summary["new_classes"]:      # no labels
        return (f"self-training without labels: the pretrained features' draft clustering found "
                f"{summary['draft_clusters']} clusters; {summary['images']} of their images "
                f"(the {share:.0%} nearest each centre) were trained on as "
                f"{summary['new_classes']} classes")
    if not summary.get("known_classes", 1):
        return (f"self-training without labels: the draft clustering's "
                f"{summary['draft_clusters']} clusters give fewer than 2 classes of "
                f"{MIN_CLUSTER_SIZE} images or more; the pretrained network is the run's")
    if not summary["new_classes"]:
        return (f"self-training: each of the draft clustering's {summary['draft_clusters']} "
                "clusters is a known class's; the draft network is the run's")
    return (f"self-training: {summary['new_classes']} of the draft's {summary['draft_clusters']} "
            f"clusters are no known class's; {summary['images']} of their unlabeled images (the "
            f"{share:.0%} nearest each centre) were trained on as {summary['new_classes']} "
            "more classes")


def draft_config(config: Config) -> Config:
    """The config of the draft round: everything as the run's, in ``RUN_DIR/draft``, but
    ``FEATURE_SET=auto`` clusters the fine-tuned features there (its new classes are those the
    network being trained separates; the choice between views was measured in stage 04 only)."""
    overrides = {"RUN_DIR": str(config.run_dir / DRAFT_DIR)}
    if config.FEATURE_SET == "auto":
        overrides["FEATURE_SET"] = "finetuned"
    return config.with_overrides(overrides)


def draft_pseudo_labels(config: Config, trained: Mapping[str, str]) -> tuple[dict[str, str], dict]:
    """The draft network (already fine-tuned in ``RUN_DIR/draft/model`` on ``trained``: {file:
    class}): its features of every image (stage 03, cached there) clustered as stage 04 does
    (with one SOM draw),
    those files anchored to their classes; returns {file: new class name} of the new clusters'
    cores (:func:`new_cluster_cores`) and a summary."""
    from cluster.run import ClusterSettings, fit_clustering, known_labels
    from extract.features import load_feature_set, share_finished_output
    from extract.run import extract_run

    draft = draft_config(config)
    extract_run(draft)
    if config.EXTRACT_BASELINE:            # the same network as stage 03's: its rows reused there
        share_finished_output(draft.run_dir / "features", config.run_dir / "features",
                              "features_pretrained")
    features, files = load_feature_set(draft.run_dir / "features", draft.FEATURE_SET)
    known = known_labels(files, trained, set(trained))
    clustering = fit_clustering(features, files, known, ClusterSettings.from_config(config),
                                config.RAW_DIR if config.DEDUPLICATE else None)
    cores = new_cluster_cores(features, clustering.labels, known, config.SELF_TRAIN_SHARE)
    names = class_names(sorted(cores), set(trained.values()))
    pseudo = {files[i]: names[c] for c, rows in cores.items() for i in rows}
    return pseudo, {"known_classes": len(set(trained.values())),
                    "draft_clusters": int(clustering.model.n_clusters_),
                    "new_classes": len(cores), "images": len(pseudo)}


def keep_draft_model(config: Config) -> None:
    """Make the draft network the run's (no new class to train on): its model files copied."""
    source, target = draft_config(config).run_dir / "model", config.run_dir / "model"
    for name in DRAFT_MODEL_FILES:
        if (source / name).exists():      # a file already the same is left as it is (and so
            atomic_write_bytes(target / name, (source / name).read_bytes())  # its features)


def fine_tune_run(config: Config, settings: FineTuneSettings, records: Sequence[ImageRecord],
                  labeled: Sequence[ImageRecord],
                  probe_features: Callable[[Sequence[str]], np.ndarray] | None = None) -> dict:
    """Stage 02's fine-tuning of ``labeled`` (records with ``image_path`` the version the network
    sees; ``records``: every image of the run, likewise) into ``RUN_DIR/model``: with
    ``SELF_TRAIN_SHARE`` > 0 a draft round first, then the run's network on the labeled images
    and the draft's new classes (module docstring; without labels of two classes the draft is
    the pretrained network); one round where no image is left out of the training or the run
    has fewer than :data:`MIN_CLUSTER_SIZE` images. Returns fine_tune's summary, with
    ``self_training`` (the draft's clusters, new classes and their images) after two rounds.
    ``probe_features``: passed on to each round's ``fine_tune``."""
    from finetune.train import fine_tune, keep_backbone

    model_dir = config.run_dir / "model"
    paths, labels = [r.image_path for r in labeled], [r.label for r in labeled]
    untrained = len({r.file for r in records} - {r.file for r in labeled})
    if not (config.SELF_TRAIN_SHARE > 0 and settings.epochs > 0
            and untrained and len(records) >= MIN_CLUSTER_SIZE):
        return fine_tune(paths, labels, model_dir, settings,   # no image a new class could hold
                         probe_features=probe_features)
    draft_model = draft_config(config).run_dir / "model"
    atomic_copy_file(model_dir / SOURCE_FILE, draft_model / SOURCE_FILE)
    if len(set(labels)) < 2:             # no labels of two classes: the pretrained network
        first = keep_backbone(draft_model, settings, len(set(labels)), len(paths))
    else:
        first = fine_tune(paths, labels, draft_model, settings, probe_features=probe_features)
    pseudo, summary = draft_pseudo_labels(config, {r.file: r.label for r in labeled})
    if not pseudo or len(set(labels) | set(pseudo.values())) < 2:   # nothing new, or 1 class
        keep_draft_model(config)
        return {**first, "self_training": {**summary, "new_classes": 0, "images": 0}}
    extra = [r for r in records if r.file in pseudo]
    return {**fine_tune(paths + [r.image_path for r in extra],
                        labels + [pseudo[r.file] for r in extra], model_dir, settings,
                        probe_features=probe_features),
            "self_training": summary}
