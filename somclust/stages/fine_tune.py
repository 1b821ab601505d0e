"""Stage 02: fine-tune the backbone on the labeled classes, with albumentations. With
FT_FROM_REVIEW, the images of the clusters named in a saved review (08_review.py) are trained
on too, labeled with their cluster's name. With SELF_TRAIN_SHARE > 0 (the default) a draft network
is fine-tuned first (without labels of 2 classes: the pretrained network is the draft), its
features clustered as stage 04 does, and the run's network fine-tuned on the labeled images plus
the core of each draft cluster that is no known class's, as a class of its own (the draft is
kept in RUN_DIR/draft). With SELF_TRAIN_SHARE=0 and fewer than 2 labeled classes, or with
FT_EPOCHS=0, the pretrained backbone is kept as the run's model."""
from __future__ import annotations

import shutil
from dataclasses import replace
from typing import Any, Mapping, Sequence

from common.cli import parse_config, stage_parser
from common.run_index import load_run_index
from common.stage import input_signatures, run_once
from config import Config
from evaluate.review import REVIEWED_CSV, reviewed_labels
from finetune.image_source import choose_run_image_source, with_source
from somclust.self_training import draft_config, fine_tune_run, self_training_note
from somclust.stages import cluster_features, extract_features

KEYS = ("IMG_DIR", "RAW_DIR", "RAW_COPY_DIR", "WORK_MAX_SIDE", "BG_METHOD", "RUN_DIR", "BACKBONE", "WEIGHTS",
        "IMAGE_SIZE",
        "FT_EPOCHS", "FT_BATCH_SIZE",
        "FT_LEARNING_RATE", "FT_VALIDATION_SPLIT", "FT_PATIENCE", "AUGMENTATIONS",
        "FT_HEAD_INIT", "FT_FROM_REVIEW", "SELF_TRAIN_SHARE")
# what the draft round depends on besides stage 02's own keys: stage 03's and stage 04's
DRAFT_KEYS = tuple(dict.fromkeys(key for key in (*extract_features.KEYS, *cluster_features.KEYS)
                                 if key not in KEYS + cluster_features.STAGE_ONLY_KEYS))


def self_training_keys(config: Config) -> tuple[str, ...]:
    """The config keys stage 02's network depends on through the draft round."""
    return ("SELF_TRAIN_SHARE",) + (DRAFT_KEYS if config.SELF_TRAIN_SHARE > 0 else ())


def draft_fingerprint(config: Config) -> dict[str, Any]:
    """The values of :func:`self_training_keys` as the draft round sees them (its FEATURE_SET:
    :func:`~somclust.self_training.draft_config`)."""
    return draft_config(config).fingerprint(self_training_keys(config))


def main(argv: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
         prog: str | None = None) -> int:
    args, config = parse_config(stage_parser(__doc__, KEYS, prog), argv, overrides)
    model_dir = config.run_dir / "model"
    if args.force:                       # the draft round's network is redone too
        for folder in (model_dir, draft_config(config).run_dir):
            if folder.exists():
                shutil.rmtree(folder)

    def work() -> dict:
        from finetune.backbones import pretrained_features   # TensorFlow loads only now
        from finetune.train import FineTuneSettings

        settings = FineTuneSettings.from_config(config)
        records = load_run_index(config.work_dir, config.IMG_DIR, config.RAW_DIR,
                                 config.RAW_COPY_DIR)
        labeled = [r for r in records if r.trainable]
        # the pretrained network's features, each image's computed once: the choice of images
        # and every round's probe read them
        features_of = pretrained_features(config.BACKBONE, config.WEIGHTS, config.IMAGE_SIZE,
                                          config.SEED, max_side=config.WORK_MAX_SIDE)
        choice = choose_run_image_source(config, labeled, features_of)
        if config.FT_FROM_REVIEW:
            named = reviewed_labels(config.run_dir)
            labeled += [replace(r, label=named[r.file], trainable=True) for r in records
                        if r.file in named and not r.trainable]
        return {**fine_tune_run(config, settings, with_source(records, choice["source"]),
                                with_source(labeled, choice["source"]), features_of),
                "image_source": choice}

    inputs = input_signatures(config.work_dir, ("labels_true.csv", "processed.csv"))
    if config.FT_FROM_REVIEW:
        inputs.update(input_signatures(config.run_dir, (REVIEWED_CSV,)))
    summary = run_once(config.run_dir, "02_finetune", {**config.fingerprint(KEYS + ("SEED",)),
                                                       **draft_fingerprint(config),
                                                       "inputs": inputs},
                       args.force, work, outputs=("model/finetuned.keras",
                                                  "model/image_source.json"))
    choice = (summary or {}).get("image_source", {})
    if choice.get("accuracy"):
        print(f"images for the network: {choice['source']} (5-NN accuracy of the pretrained "
              "features on the labeled images: " + ", ".join(
                  f"{source} {value:.3f}" for source, value in choice["accuracy"].items()) + ")")
    if summary and not summary["epochs_done"]:
        print(f"{config.BACKBONE} ({config.WEIGHTS}) kept as it is -> {model_dir}/finetuned.keras")
    elif summary:
        print(f"fine-tuned {config.BACKBONE} on {summary['train_images']} images of "
              f"{summary['classes']} classes ({summary['epochs_done']} epochs, best epoch "
              f"{summary['best_epoch']}) -> {model_dir}/finetuned.keras")
    if summary and "self_training" in summary:
        print(self_training_note(summary["self_training"], config.SELF_TRAIN_SHARE))
    return 0

