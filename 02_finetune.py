#!/usr/bin/env python3
"""Stage 02: fine-tune the backbone (InceptionV3) on the labeled classes, with albumentations."""
from __future__ import annotations

import shutil

from common.cli import parse_config, run_main, stage_parser
from common.run_index import load_run_index
from common.stage import input_signatures, run_once

KEYS = ("IMG_DIR", "RUN_DIR", "BACKBONE", "WEIGHTS", "IMAGE_SIZE", "FT_EPOCHS", "FT_BATCH_SIZE",
        "FT_LEARNING_RATE", "FT_VALIDATION_SPLIT", "FT_PATIENCE", "AUGMENTATIONS")


def main(argv=None, overrides=None) -> int:
    args, config = parse_config(stage_parser(__doc__, KEYS), argv, overrides)
    model_dir = config.run_dir / "model"
    if args.force and model_dir.exists():
        shutil.rmtree(model_dir)

    def work() -> dict:
        from finetune.train import FineTuneSettings, fine_tune   # TensorFlow loads only now

        settings = FineTuneSettings(config.BACKBONE, config.WEIGHTS, config.IMAGE_SIZE,
                                    config.FT_EPOCHS, config.FT_BATCH_SIZE,
                                    config.FT_LEARNING_RATE, config.FT_VALIDATION_SPLIT,
                                    config.FT_PATIENCE, tuple(config.AUGMENTATIONS), config.SEED)
        labeled = [r for r in load_run_index(config.work_dir, config.IMG_DIR) if r.trainable]
        return fine_tune([r.image_path for r in labeled], [r.label for r in labeled], model_dir,
                         settings)

    summary = run_once(config.run_dir, "02_finetune", {**config.fingerprint(KEYS + ("SEED",)),
                        "inputs": input_signatures(config.work_dir,
                                                   ("labels_true.csv", "processed.csv"))},
                       args.force, work)
    if summary:
        print(f"fine-tuned {config.BACKBONE} on {summary['train_images']} images of "
              f"{summary['classes']} classes ({summary['epochs_done']} epochs, best epoch "
              f"{summary['best_epoch']}) -> {model_dir}/finetuned.keras")
    return 0


if __name__ == "__main__":
    run_main(main)
