"""Stage 03: features of every processed image from the fine-tuned network (cached, resumable).

With --ray ADDRESS (or RAY_ADDRESS) the batches are computed by Ray actors, each holding a copy of
the model; the features are the same as here.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from common.cli import parse_config, stage_parser
from common.stage import input_signatures, run_once
from extract.run import extract_run

KEYS = ("IMG_DIR", "RAW_COPY_DIR", "RUN_DIR", "WORK_MAX_SIDE", "BACKBONE", "WEIGHTS", "IMAGE_SIZE", "FEATURE_LAYER",
        "EXTRACT_BATCH_SIZE", "EXTRACT_BASELINE", "EXTRACT_RUNTIME", "EXTRACT_PRECISION")
# how the work is spread; the features do not depend on them, so they are not fingerprinted
EXECUTION_KEYS = ("EXTRACT_LOADER_THREADS", "RAY_ADDRESS", "EXTRACT_ACTOR_CPUS")
# where the raw images are read when stage 02 chose them: rows are keyed by each file's size and
# modification time, so the folder itself is not fingerprinted either
READ_KEYS = ("RAW_DIR",)


def main(argv: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
         prog: str | None = None) -> int:
    parser = stage_parser(__doc__, KEYS + EXECUTION_KEYS + READ_KEYS, prog)
    args, config = parse_config(parser, argv, overrides)
    summary = run_once(config.run_dir, "03_extract_features",
                       {**config.fingerprint(KEYS + ("SEED",)),
                        "inputs": input_signatures(config.run_dir, ("model/finetuned.keras",
                                                                     "model/image_source.json"))},
                       args.force, lambda: extract_run(config),
                       outputs=tuple(f"features/{name}{suffix}" for name in (
                           ("features", "features_pretrained") if config.EXTRACT_BASELINE
                           else ("features",)) for suffix in (".npy", "_index.csv")))
    for name, part in (summary or {}).items():
        print(f"{name}: {part['images']} images x {part['dim']} dims ({part['extracted']} "
              f"extracted, {part['reused']} reused, {part['invalid']} unreadable; "
              f"{part['runtime']}, {part.get('precision', config.EXTRACT_PRECISION)})")
    return 0

