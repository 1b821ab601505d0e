"""Stage 00: true labels from class sub-folders, a labels CSV or a filename pattern."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from common.cli import parse_config, stage_parser
from common.skips import SkipLog
from common.stage import LABELS_STAGE, file_signature, folder_signature, run_once
from config import Config
from preprocess.labels import collect_labels, labels_summary, write_labels

KEYS = ("RAW_DIR", "LABEL_SOURCE", "LABELS_CSV", "FILENAME_LABEL_REGEX", "UNLABELED_DIR")
DEFAULTS = Config().values


def main(argv: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
         prog: str | None = None) -> int:
    args, config = parse_config(stage_parser(__doc__, KEYS, prog), argv, overrides)

    def work() -> dict:
        skips = SkipLog(config.work_dir, LABELS_STAGE)
        images = collect_labels(config.RAW_DIR, config.LABEL_SOURCE, config.LABELS_CSV,
                                config.FILENAME_LABEL_REGEX, config.UNLABELED_DIR, skips,
                                csv_named=config.values["LABELS_CSV"] != DEFAULTS["LABELS_CSV"])
        summary = write_labels(images, config.work_dir)
        skips.save()
        return {**summary, "skipped": len(skips)}

    labels_csv = Path(config.LABELS_CSV)
    inputs = {"raw_images": folder_signature(config.RAW_DIR) if Path(config.RAW_DIR).is_dir() else "",
              "labels_csv": file_signature(labels_csv) if labels_csv.is_file() else ""}
    summary = run_once(config.work_dir, LABELS_STAGE, {**config.fingerprint(KEYS), **inputs},
                       args.force, work, outputs=("labels_true.csv", "img_paths.txt",
                                                  "labels_true.txt"))
    if summary:
        print(f"labels: {labels_summary(summary)} -> {config.work_dir}/labels_true.csv")
    return 0

