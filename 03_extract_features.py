#!/usr/bin/env python3
"""Stage 03: features of every processed image from the fine-tuned network (cached, resumable).

With --ray ADDRESS (or RAY_ADDRESS) the batches are computed by Ray actors, each holding a copy of
the model; the features are the same as here.
"""
from __future__ import annotations

import json
from pathlib import Path

from common.cli import parse_config, run_main, stage_parser
from common.errors import SomclustError
from common.run_index import load_run_index
from common.stage import file_signature, input_signatures, read_record, run_once
from extract.features import MODEL_FILES, LocalExtractor, extract_features

KEYS = ("IMG_DIR", "RUN_DIR", "BACKBONE", "WEIGHTS", "IMAGE_SIZE", "FEATURE_LAYER", "EXTRACT_BATCH_SIZE",
        "EXTRACT_BASELINE", "EXTRACT_PRECISION")
# how the work is spread; the features do not depend on them, so they are not fingerprinted
EXECUTION_KEYS = ("EXTRACT_LOADER_THREADS", "RAY_ADDRESS", "EXTRACT_ACTOR_CPUS")


def main(argv=None, overrides=None) -> int:
    args, config = parse_config(stage_parser(__doc__, KEYS + EXECUTION_KEYS), argv, overrides)
    model_dir = config.run_dir / "model"
    model_path = model_dir / MODEL_FILES["features"]

    def extractor(name: str, model):
        """Where the batches of feature file ``name`` are computed."""
        if config.RAY_ADDRESS:
            from extract.distributed import RayExtractor

            return RayExtractor(model_dir / MODEL_FILES[name], config.FEATURE_LAYER,
                                config.EXTRACT_PRECISION, config.IMAGE_SIZE, config.RAY_ADDRESS,
                                config.EXTRACT_ACTOR_CPUS)
        from finetune.backbones import feature_extractor

        network = feature_extractor(model(), config.FEATURE_LAYER, config.EXTRACT_PRECISION)
        return LocalExtractor(network.predict_on_batch, config.IMAGE_SIZE,
                              config.EXTRACT_LOADER_THREADS)

    def model_key(name: str) -> str:
        """What the features of ``name`` depend on besides the image: cached rows made with
        another model, image size, layer or precision are not reused."""
        settings = config.fingerprint(("IMAGE_SIZE", "FEATURE_LAYER", "EXTRACT_PRECISION"))
        if name == "features":           # the fine-tuned weights, rewritten when 02 re-runs
            settings["model"] = file_signature(model_path)
        else:                            # rebuilt here from the backbone, its weights and seed
            settings.update(config.fingerprint(("BACKBONE", "WEIGHTS", "SEED")))
            if Path(config.WEIGHTS).is_file():
                settings["weights_file"] = file_signature(Path(config.WEIGHTS))
        return json.dumps(settings, sort_keys=True)

    def work() -> dict:
        import keras

        from finetune.backbones import build_backbone
        from finetune.train import save_model_atomically, set_determinism

        if not model_path.exists():
            raise SomclustError(f"{model_path} not found: run 02_finetune.py first")
        trained = read_record(config.run_dir, "02_finetune").get("fingerprint", {})
        if trained.get("IMAGE_SIZE", config.IMAGE_SIZE) != config.IMAGE_SIZE:
            raise SomclustError(f"{model_path} was fine-tuned on {trained['IMAGE_SIZE']} px images, "
                                f"not IMAGE_SIZE={config.IMAGE_SIZE}: run 02_finetune.py with "
                                "the same IMAGE_SIZE first")
        records = load_run_index(config.work_dir, config.IMG_DIR)
        files, paths = [r.file for r in records], [r.image_path for r in records]
        models = {"features": lambda: keras.models.load_model(model_path)}
        if config.EXTRACT_BASELINE:
            set_determinism(config.SEED)
            untuned = build_backbone(config.BACKBONE, config.WEIGHTS, config.IMAGE_SIZE)
            save_model_atomically(untuned, model_dir / MODEL_FILES["features_pretrained"])
            models["features_pretrained"] = lambda: untuned
        summary = {}
        for name, model in models.items():
            computer = extractor(name, model)
            try:
                summary[name] = extract_features(computer, files, paths,
                                                 config.run_dir / "features", name,
                                                 config.EXTRACT_BATCH_SIZE, model_key(name))
            finally:
                computer.close()
        return summary

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
