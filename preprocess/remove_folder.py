"""Stage 01 over a folder: raw_img/ -> img/ + masks/, in parallel, resumable, raw files untouched."""
from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from tqdm import tqdm

from common.atomic_io import (atomic_write_bytes, atomic_write_csv, atomic_write_json,
                              read_csv_rows, remove_stale_temporaries)
from common.errors import ImageReadError
from common.images import encode_png, read_mask, read_rgb_fitted
from common.parallel import ordered_map
from common.skips import SkipLog
from common.stage import file_signature
from preprocess.background import BackgroundParams, apply_mask, foreground_mask, mask_iou

LOG = logging.getLogger("somclust")
PROCESSED_HEADER = ("file", "img", "mask", "raw_copy", "raw_signature")
OUTPUTS_FILE = ".somclust_outputs.json"      # in IMG_DIR: the settings its files were made with


@dataclass(frozen=True)
class RemovalJob:
    """One raw image and where its outputs go (paths relative to their folders)."""

    file: str
    output: str
    # the signature of the raw file the last finished run made ``output`` from ("": of another
    # file); None where that run did not list it
    made_from: str | None = None


@dataclass(frozen=True)
class RemovalResult:
    file: str
    output: str
    error: str = ""
    iou: float = float("nan")
    iou_no_removal: float = float("nan")
    raw_copy: str = ""               # the working-size copy of a raw image larger than max_side
    raw_signature: str = ""          # the raw file's size and time when its outputs were made


@dataclass(frozen=True)
class RemovalSetup:
    """What every job of a folder shares: its folders and settings."""

    raw_dir: Path
    img_dir: Path
    mask_dir: Path
    copy_dir: Path                   # working-size copies of raw images larger than max_side
    true_mask_dir: Path | None
    params: BackgroundParams
    max_side: int = 0

    def settings(self) -> dict:
        """What the images and masks depend on besides the raw file."""
        return {**asdict(self.params), "max_side": self.max_side}

    @property
    def output_dirs(self) -> tuple[Path, Path, Path]:
        """The folders only this stage writes: images, masks, working-size copies."""
        return self.img_dir, self.mask_dir, self.copy_dir

    def delete_outputs(self, output: str) -> None:
        """Delete the image, mask and working-size copy named ``output``, where there."""
        for folder in self.output_dirs:
            (folder / output).unlink(missing_ok=True)


def output_name(relative_file: str) -> str:
    """Processed images are PNG files at the same relative place."""
    return str(Path(relative_file).with_suffix(".png"))


def _signature(path: Path) -> str:
    try:
        return file_signature(path)
    except OSError:
        return ""


def _finished(job: RemovalJob, setup: RemovalSetup, signature: str) -> bool:
    """Outputs of ``job`` to reuse: made by the last finished run from this very raw file (same
    ``signature``, its size and time now), or, where that run did not list them (a run killed
    midway continues from them), made after the raw file last changed."""
    img, mask, raw = (setup.img_dir / job.output, setup.mask_dir / job.output,
                      setup.raw_dir / job.file)
    try:
        if not mask.exists():
            return False
        if job.made_from is not None:           # "" (another file's outputs) never matches
            return bool(job.made_from) and img.exists() and job.made_from == signature
        return img.stat().st_mtime >= raw.stat().st_mtime
    except OSError:
        return False


def _process(job: RemovalJob, setup: RemovalSetup) -> RemovalResult:
    mask_path, img_path = setup.mask_dir / job.output, setup.img_dir / job.output
    copy_path = setup.copy_dir / job.output
    signature = _signature(setup.raw_dir / job.file)        # before reading: what is made from
    try:
        if _finished(job, setup, signature):
            mask = read_mask(mask_path)
        else:
            image, shrunk = read_rgb_fitted(setup.raw_dir / job.file, setup.max_side)
            if shrunk:                # the raw version at working size, for stages 02-03
                atomic_write_bytes(copy_path, encode_png(image))
            else:
                copy_path.unlink(missing_ok=True)
            mask = foreground_mask(image, setup.params)
            atomic_write_bytes(mask_path, encode_png(mask.astype(np.uint8) * 255))
            atomic_write_bytes(img_path, encode_png(apply_mask(image, mask,
                                                               setup.params.fill_value)))
    except ImageReadError as error:
        return RemovalResult(job.file, job.output, error=str(error))
    made = RemovalResult(job.file, job.output, raw_copy=job.output if copy_path.exists() else "",
                         raw_signature=signature)
    true_path = setup.true_mask_dir / job.output if setup.true_mask_dir else None
    if true_path is None or not true_path.exists():
        return made
    true_mask = read_mask(true_path, setup.max_side)
    if true_mask.shape != mask.shape:
        return made
    return replace(made, iou=mask_iou(mask, true_mask),
                   iou_no_removal=mask_iou(np.ones_like(true_mask), true_mask))


def _process_chunk(args: tuple[Sequence[RemovalJob], RemovalSetup]) -> list[RemovalResult]:
    jobs, setup = args
    return [_process(job, setup) for job in jobs]


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def plan_jobs(files: Sequence[str], skips: SkipLog) -> list[RemovalJob]:
    """One job per file, its outputs named :func:`output_name`; files whose names differ only in
    the extension (``photo.jpg``, ``photo.png``) keep it (``photo.jpg.png``, ``photo.png.png``),
    whatever their order. A file whose output name is still taken is skipped."""
    plain = Counter(output_name(file) for file in files)
    jobs, taken = [], set()
    for file in files:
        output = output_name(file) if plain[output_name(file)] == 1 else f"{file}.png"
        if output in taken:
            skips.skip(file, f"another file already becomes {output}: rename one of them")
            continue
        taken.add(output)
        jobs.append(RemovalJob(file, output))
    return jobs


def _previous_rows(processed_csv: str | Path | None) -> list[dict[str, str]]:
    """The rows of the last finished run's ``processed_csv`` (none if it is missing or unreadable)."""
    try:
        return read_csv_rows(processed_csv) if processed_csv else []
    except (OSError, ValueError):
        return []


def _with_previous_sources(jobs: list[RemovalJob],
                           rows: Sequence[dict[str, str]]) -> list[RemovalJob]:
    """``jobs`` with what the last finished run (its processed rows) made their outputs from."""
    if not rows or "raw_signature" not in rows[0]:       # none, or written before the column
        return jobs
    made = {r["img"]: (r["file"], r["raw_signature"]) for r in rows}
    return [replace(job, made_from=made[job.output][1] if made[job.output][0] == job.file else "")
            if job.output in made else job for job in jobs]


def _forget_other_settings(jobs: Sequence[RemovalJob], setup: RemovalSetup) -> None:
    """Delete the listed jobs' outputs when they were made with other settings than ``setup``'s
    (or by a version that did not record them), then record these: from then on what is on
    disk is reusable, also after this run is killed midway."""
    record = setup.img_dir / OUTPUTS_FILE
    try:
        if json.loads(record.read_text()) == setup.settings():
            return
    except (OSError, ValueError):
        pass
    for job in jobs:
        setup.delete_outputs(job.output)
    atomic_write_json(record, setup.settings())


def _remove_dropped_outputs(rows: Sequence[dict[str, str]], jobs: Sequence[RemovalJob],
                            setup: RemovalSetup) -> int:
    """Delete the outputs the last finished run made (its processed ``rows``) for files no longer
    listed (taken out of the raw folder, or a raw folder other than that run's); returns how many."""
    kept = {job.output for job in jobs}
    dropped = {row["img"] for row in rows if row.get("img") and row["img"] not in kept}
    for output in dropped:
        setup.delete_outputs(output)
    return len(dropped)


def remove_background_folder(files: Sequence[str], setup: RemovalSetup, skips: SkipLog,
                             workers: int = 0, processed_csv: str | Path | None = None,
                             ray_address: str = "") -> dict[str, float]:
    """Remove the background of every listed raw file (paths relative to ``setup.raw_dir``).

    Writes ``img_dir/<file>.png`` and ``mask_dir/<file>.png`` atomically; a raw image larger
    than ``setup.max_side`` is shrunk to it first (:func:`common.images.read_rgb`) and that
    working-size copy kept as ``copy_dir/<file>.png`` for the stages that read raw images.
    Outputs already there are reused if made with the same settings from this raw file
    (:func:`_finished`). Logs unusable files in ``skips`` and returns counts and the mean mask
    IoU against ``true_mask_dir`` where present. Chunks of images run in ``workers`` processes,
    or as Ray tasks when ``ray_address`` is set.
    """
    for folder in setup.output_dirs:
        if remove_stale_temporaries(folder):
            LOG.info("removed unfinished files an interrupted run left in %s", folder)
    true_dir = setup.true_mask_dir
    setup = replace(setup, true_mask_dir=true_dir if true_dir and true_dir.is_dir() else None)
    previous = _previous_rows(processed_csv)
    jobs = _with_previous_sources(plan_jobs(files, skips), previous)
    _forget_other_settings(jobs, setup)
    workers = workers or os.cpu_count() or 1
    chunk_size = max(1, min(64, len(jobs) // (workers * 4) or 1))
    tasks = [(chunk, setup) for chunk in _chunks(jobs, chunk_size)]
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
                         [(r.file, r.output, r.output, r.raw_copy, r.raw_signature)
                          for r in done])
        if dropped := _remove_dropped_outputs(previous, jobs, setup):
            LOG.info("deleted the outputs of %d images no longer in the raw folder", dropped)
    ious = [r.iou for r in done if not np.isnan(r.iou)]
    baseline = [r.iou_no_removal for r in done if not np.isnan(r.iou_no_removal)]
    return {"processed": len(done), "skipped": len(files) - len(done),
            "working_size_copies": sum(bool(r.raw_copy) for r in done),
            "mean_mask_iou": float(np.mean(ious)) if ious else float("nan"),
            "mean_mask_iou_no_removal": float(np.mean(baseline)) if baseline else float("nan"),
            "masks_scored": len(ious)}
