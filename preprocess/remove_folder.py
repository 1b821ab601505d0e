"""Stage 01 over a folder: raw_img/ -> img/ + masks/, in parallel, resumable, raw files untouched."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from tqdm import tqdm

from common.atomic_io import atomic_write_bytes, atomic_write_csv, remove_stale_temporaries
from common.errors import ImageReadError
from common.images import encode_png, read_mask, read_rgb
from common.parallel import ordered_map
from common.skips import SkipLog
from preprocess.background import BackgroundParams, apply_mask, foreground_mask, mask_iou

LOG = logging.getLogger("somclust")
PROCESSED_HEADER = ("file", "img", "mask")


@dataclass(frozen=True)
class RemovalJob:
    """One raw image and where its outputs go (paths relative to their folders)."""

    file: str
    output: str


@dataclass(frozen=True)
class RemovalResult:
    file: str
    output: str
    error: str = ""
    iou: float = float("nan")
    iou_no_removal: float = float("nan")


def output_name(relative_file: str) -> str:
    """Processed images are PNG files at the same relative place."""
    return str(Path(relative_file).with_suffix(".png"))


def _process(job: RemovalJob, raw_dir: Path, img_dir: Path, mask_dir: Path,
             true_mask_dir: Path | None, params: BackgroundParams) -> RemovalResult:
    mask_path, img_path = mask_dir / job.output, img_dir / job.output
    try:
        if img_path.exists() and mask_path.exists():   # finished before an interruption
            mask = read_mask(mask_path)
        else:
            image = read_rgb(raw_dir / job.file)
            mask = foreground_mask(image, params)
            atomic_write_bytes(mask_path, encode_png(mask.astype(np.uint8) * 255))
            atomic_write_bytes(img_path, encode_png(apply_mask(image, mask, params.fill_value)))
    except ImageReadError as error:
        return RemovalResult(job.file, job.output, error=str(error))
    true_path = true_mask_dir / job.output if true_mask_dir else None
    if true_path is None or not true_path.exists():
        return RemovalResult(job.file, job.output)
    true_mask = read_mask(true_path)
    if true_mask.shape != mask.shape:
        return RemovalResult(job.file, job.output)
    return RemovalResult(job.file, job.output, iou=mask_iou(mask, true_mask),
                         iou_no_removal=mask_iou(np.ones_like(true_mask), true_mask))


def _process_chunk(args) -> list[RemovalResult]:
    jobs, *rest = args
    return [_process(job, *rest) for job in jobs]


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def plan_jobs(files: Sequence[str], skips: SkipLog) -> list[RemovalJob]:
    """One job per file; a file whose output name collides with an earlier one is skipped."""
    jobs, taken = [], set()
    for file in files:
        output = output_name(file)
        if output in taken:
            skips.skip(file, f"another file already becomes {output} (same name, other extension)")
            continue
        taken.add(output)
        jobs.append(RemovalJob(file, output))
    return jobs


def remove_background_folder(files: Sequence[str], raw_dir: str | Path, img_dir: str | Path,
                             mask_dir: str | Path, true_mask_dir: str | Path | None,
                             params: BackgroundParams, skips: SkipLog, workers: int = 0,
                             processed_csv: str | Path | None = None,
                             ray_address: str = "") -> dict[str, float]:
    """Remove the background of every listed raw file (paths relative to ``raw_dir``).

    Writes ``img_dir/<file>.png`` and ``mask_dir/<file>.png`` atomically, logs unusable files in
    ``skips``, and returns counts and the mean mask IoU against ``true_mask_dir`` where present.
    Chunks of images run in ``workers`` processes, or as Ray tasks when ``ray_address`` is set.
    """
    raw_dir, img_dir, mask_dir = Path(raw_dir), Path(img_dir), Path(mask_dir)
    for folder in (img_dir, mask_dir):       # only this stage writes there
        if remove_stale_temporaries(folder):
            LOG.info("removed unfinished files an interrupted run left in %s", folder)
    true_dir = Path(true_mask_dir) if true_mask_dir and Path(true_mask_dir).is_dir() else None
    jobs = plan_jobs(files, skips)
    workers = workers or os.cpu_count() or 1
    chunk_size = max(1, min(64, len(jobs) // (workers * 4) or 1))
    tasks = [(chunk, raw_dir, img_dir, mask_dir, true_dir, params)
             for chunk in _chunks(jobs, chunk_size)]
    results: list[RemovalResult] = []
    with tqdm(total=len(jobs), desc="remove background", unit="img") as progress, \
            ordered_map(_process_chunk, tasks, workers, ray_address) as mapped:
        for chunk_results in mapped:
            results.extend(chunk_results)
            progress.update(len(chunk_results))
    done = [r for r in results if not r.error]
    for result in results:
        if result.error:
            skips.skip(result.file, result.error)
    if processed_csv:
        atomic_write_csv(processed_csv, PROCESSED_HEADER,
                         [(r.file, r.output, r.output) for r in done])
    ious = [r.iou for r in done if not np.isnan(r.iou)]
    baseline = [r.iou_no_removal for r in done if not np.isnan(r.iou_no_removal)]
    return {"processed": len(done), "skipped": len(files) - len(done),
            "mean_mask_iou": float(np.mean(ious)) if ious else float("nan"),
            "mean_mask_iou_no_removal": float(np.mean(baseline)) if baseline else float("nan"),
            "masks_scored": len(ious)}
