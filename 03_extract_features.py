#!/usr/bin/env python3
"""Stage 03: features of every processed image from the fine-tuned network (cached, resumable)."""
from __future__ import annotations

from common.cli import parse_config, run_main, stage_parser
from common.errors import SomclustError
from common.run_index import load_run_index
from common.stage import input_signatures, run_once
from extract.features import MODEL_FILES, extract_features

KEYS = ("IMG_DIR", "RUN_DIR", "BACKBONE", "WEIGHTS", "IMAGE_SIZE", "FEATURE_LAYER", "EXTRACT_BATCH_SIZE",
        "EXTRACT_LOADER_THREADS", "EXTRACT_BASELINE")


def main(argv=None, overrides=None) -> int:
    args, config = parse_config(stage_parser(__doc__, KEYS), argv, overrides)
    model_path = config.run_dir / "model" / MODEL_FILES["features"]

    def work() -> dict:
        import keras

        from finetune.backbones import build_backbone, feature_extractor
        from finetune.train import save_model_atomically, set_determinism

        if not model_path.exists():
            raise SomclustError(f"{model_path} not found: run 02_finetune.py first")
        records = load_run_index(config.work_dir, config.IMG_DIR)
        files, paths = [r.file for r in records], [r.image_path for r in records]
        models = {"features": feature_extractor(keras.models.load_model(model_path),
                                                config.FEATURE_LAYER)}
        if config.EXTRACT_BASELINE:
            set_determinism(config.SEED)
            untuned = build_backbone(config.BACKBONE, config.WEIGHTS, config.IMAGE_SIZE)
            save_model_atomically(untuned,
                                  config.run_dir / "model" / MODEL_FILES["features_pretrained"])
            models["features_pretrained"] = feature_extractor(untuned, config.FEATURE_LAYER)
        return {name: extract_features(model.predict_on_batch, files, paths,
                                       config.run_dir / "features", name, config.IMAGE_SIZE,
                                       config.EXTRACT_BATCH_SIZE,
                                       config.EXTRACT_LOADER_THREADS)
                for name, model in models.items()}

    summary = run_once(config.run_dir, "03_extract_features",
                       {**config.fingerprint(KEYS + ("SEED",)),
                        "inputs": input_signatures(config.run_dir, ("model/finetuned.keras",))},
                       args.force, work)
    for name, part in (summary or {}).items():
        print(f"{name}: {part['images']} images x {part['dim']} dims ({part['extracted']} "
              f"extracted, {part['reused']} reused, {part['invalid']} unreadable)")
    return 0


if __name__ == "__main__":
    run_main(main)
