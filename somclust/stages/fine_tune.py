"""Stage 02: fine-tune the backbone on the labeled classes, with albumentations (with fewer than
2 labeled classes, or FT_EPOCHS=0, the pretrained backbone is kept as the run's model)."""
from __future__ import annotations

import shutil
from typing import Any, Mapping, Sequence

from common.cli import parse_config, stage_parser
from common.run_index import load_run_index
from common.stage import input_signatures, run_once
from finetune.image_source import choose_run_image_source, with_source

KEYS = ("IMG_DIR", "RAW_DIR", "BG_METHOD", "RUN_DIR", "BACKBONE", "WEIGHTS", "IMAGE_SIZE",
        "FT_EPOCHS", "FT_BATCH_SIZE",
        "FT_LEARNING_RATE", "FT_VALIDATION_SPLIT", "FT_PATIENCE", "AUGMENTATIONS")


def main(argv: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
         prog: str | None = None) -> int:
    args, config = parse_config(stage_parser(__doc__, KEYS, prog), argv, overrides)
    model_dir = config.run_dir / "model"
    if args.force and model_dir.exists():
        shutil.rmtree(model_dir)

    def work() -> dict:
        from finetune.train import FineTuneSettings, fine_tune   # TensorFlow loads only now

        settings = FineTuneSettings.from_config(config)
        labeled = [r for r in load_run_index(config.work_dir, config.IMG_DIR) if r.trainable]
        choice = choose_run_image_source(config, labeled)
        labeled = with_source(labeled, choice["source"], config.RAW_DIR)
        summary = fine_tune([r.image_path for r in labeled], [r.label for r in labeled],
                            model_dir, settings)
        return {**summary, "image_source": choice}

    summary = run_once(config.run_dir, "02_finetune", {**config.fingerprint(KEYS + ("SEED",)),
                        "inputs": input_signatures(config.work_dir,
                                                   ("labels_true.csv", "processed.csv"))},
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
    return 0

