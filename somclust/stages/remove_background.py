"""Stage 01: OpenCV background removal, RAW_DIR -> IMG_DIR (+ MASK_DIR). Raw files are never modified."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from common.cli import parse_config, stage_parser
from common.errors import SomclustError
from common.skips import SkipLog
from common.stage import input_signatures, run_once
from preprocess.background import BackgroundParams
from preprocess.labels import read_labels
from preprocess.remove_folder import RemovalSetup, remove_background_folder

KEYS = ("RAW_DIR", "IMG_DIR", "MASK_DIR", "RAW_COPY_DIR", "TRUE_MASK_DIR", "WORK_MAX_SIDE",
        "BG_METHOD", "BG_WORK_SIZE", "BG_ITERATIONS", "BG_RECT_MARGIN", "BG_WORKERS")


def main(argv: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
         prog: str | None = None) -> int:
    parser = stage_parser(__doc__, KEYS + ("RAY_ADDRESS",), prog)
    args, config = parse_config(parser, argv, overrides)
    params = BackgroundParams(config.BG_METHOD, config.BG_WORK_SIZE, config.BG_ITERATIONS,
                              config.BG_RECT_MARGIN)
    setup = RemovalSetup(Path(config.RAW_DIR), Path(config.IMG_DIR), Path(config.MASK_DIR),
                         Path(config.RAW_COPY_DIR), Path(config.TRUE_MASK_DIR), params,
                         config.WORK_MAX_SIDE)

    def work() -> dict:
        skips = SkipLog(config.work_dir, "01_remove_background")
        files = [image.file for image in read_labels(config.work_dir)]
        summary = remove_background_folder(
            files, setup, skips, config.BG_WORKERS, processed_csv=config.work_dir / "processed.csv",
            ray_address=config.RAY_ADDRESS)
        skips.save()
        if summary["processed"] == 0:
            raise SomclustError(f"none of the {len(files)} images in {config.RAW_DIR} could be "
                                f"used; see {skips.path}")
        return summary

    fingerprint = {**config.fingerprint(KEYS),
                   "inputs": input_signatures(config.work_dir, ("labels_true.csv",))}
    summary = run_once(config.work_dir, "01_remove_background", fingerprint, args.force, work,
                       outputs=("processed.csv",))
    if summary:
        print(f"background removal: {summary['processed']} images -> {config.IMG_DIR}, "
              f"{summary['skipped']} skipped")
        if summary.get("working_size_copies"):
            print(f"{summary['working_size_copies']} images larger than WORK_MAX_SIDE="
                  f"{config.WORK_MAX_SIDE} px worked on at that size (copies in "
                  f"{config.RAW_COPY_DIR})")
        if summary["masks_scored"]:
            print(f"mean mask IoU vs true masks ({summary['masks_scored']} images): "
                  f"{summary['mean_mask_iou']:.3f} ({config.BG_METHOD}) vs "
                  f"{summary['mean_mask_iou_no_removal']:.3f} (no removal)")
    return 0

