"""Stage bookkeeping: a finished stage leaves a marker holding the config it ran with.

Re-running a finished stage with the same config, inputs and code is a no-op unless forced.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from common.atomic_io import atomic_write_json

LOG = logging.getLogger("somclust")
LABELS_STAGE = "00_make_labels"      # its record names the raw folder a work folder's images are from


def file_signature(path: str | os.PathLike) -> str:
    """Size and modification time: enough to notice a changed file."""
    stat = os.stat(path)
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def input_signatures(folder: str | Path, names: tuple[str, ...]) -> dict[str, str]:
    """{name: signature} of the files among ``names`` (relative to ``folder``) that exist:
    part of a stage's fingerprint, so the stage re-runs when an input changed."""
    return {name: file_signature(Path(folder) / name) for name in names
            if (Path(folder) / name).exists()}


def folder_signature(root: str | os.PathLike) -> str:
    """Digest of the image files below ``root`` (names, sizes, modification times): changes
    when an image is added, removed or replaced."""
    from common.images import list_images

    digest = hashlib.sha256()
    for path in list_images(root):
        try:
            entry = f"{path.relative_to(root)}:{file_signature(path)}\n"
        except OSError:                      # a dangling link or a loop: its name still counts
            entry = f"{path.relative_to(root)}:?\n"
        digest.update(entry.encode("utf-8", "surrogateescape"))   # names need not be UTF-8
    return digest.hexdigest()


SOURCE_ROOT = Path(__file__).resolve().parents[1]
# the packages whose code decides a stage's outputs: the stage re-runs after they change.
# Stages 01-03 are left out: they resume per image / per epoch / per batch from caches keyed on
# their settings, so a re-run would rebuild nothing (and re-saving the model would make 03
# extract every row again).
STAGE_CODE = {"00_make_labels": ("preprocess",), "04_cluster": ("cluster",),
              "05_evaluate": ("evaluate",), "06_report": ("evaluate",)}


def code_signature(packages: tuple[str, ...], root: str | Path = SOURCE_ROOT) -> str:
    """Digest of the Python sources of ``packages`` (folders below ``root``)."""
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((Path(root) / package).rglob("*.py")):
            digest.update(f"{path.relative_to(root)}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _marker(work_dir: str | Path, stage: str) -> Path:
    return Path(work_dir) / ".stages" / f"{stage}.json"


def read_record(work_dir: str | Path, stage: str) -> dict[str, Any]:
    """What ``stage`` recorded when it finished (``fingerprint``, ``summary``, ``finished``);
    empty when it has not finished (or its record is unreadable)."""
    marker = _marker(work_dir, stage)
    try:
        return json.loads(marker.read_text()) if marker.exists() else {}
    except (OSError, ValueError):
        return {}


def recorded_inputs(work_dir: str | Path, keys: Sequence[str]) -> dict[str, Any]:
    """{key: value} of the config ``keys`` stage 00 last finished with in ``work_dir`` (paths
    absolute); empty before it finished."""
    fingerprint = read_record(work_dir, LABELS_STAGE).get("fingerprint", {})
    return {key: fingerprint[key] for key in keys if key in fingerprint}


def output_signatures(work_dir: str | Path, outputs: tuple[str, ...]) -> dict[str, str]:
    """{output: signature} of a stage's output files (relative to ``work_dir`` or absolute);
    "missing" for those that do not exist."""
    return {name: file_signature(Path(work_dir) / name) if (Path(work_dir) / name).is_file()
            else "missing" for name in outputs}


def is_done(work_dir: str | Path, stage: str, fingerprint: dict[str, Any]) -> bool:
    """True when ``stage`` finished before with exactly this fingerprint and the outputs it
    recorded are still there, unchanged."""
    recorded = read_record(work_dir, stage)
    if not recorded or recorded.get("fingerprint") != json.loads(json.dumps(fingerprint,
                                                                          default=str)):
        return False
    outputs = recorded.get("outputs", {})
    changed = [name for name, signature in output_signatures(work_dir, tuple(outputs)).items()
               if signature != outputs[name]]
    if changed:
        LOG.info("%s: its output %s was deleted or changed; running it again", stage, changed[0])
    return not changed


def mark_done(work_dir: str | Path, stage: str, fingerprint: dict[str, Any],
              summary: dict[str, Any] | None = None, outputs: tuple[str, ...] = ()) -> None:
    """Record that ``stage`` finished with this fingerprint, and its outputs' signatures."""
    atomic_write_json(_marker(work_dir, stage), {
        "fingerprint": fingerprint, "summary": summary or {},
        "outputs": output_signatures(work_dir, outputs),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S")})


def clear(work_dir: str | Path, stage: str) -> None:
    """Forget that ``stage`` finished (its outputs will be rebuilt)."""
    _marker(work_dir, stage).unlink(missing_ok=True)


def run_once(work_dir: str | Path, stage: str, fingerprint: dict[str, Any], force: bool,
             work: Callable[[], dict[str, Any]],
             outputs: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """Run ``work`` unless the stage already finished with this fingerprint (and not forced)
    and its ``outputs`` (files relative to ``work_dir``, or absolute) are as it left them.

    The fingerprint also holds the signature of the stage's code (``STAGE_CODE``), so a finished
    stage re-runs after an upgrade changed how it computes its outputs.
    Returns the summary ``work`` produced, or None when the stage was skipped as done.
    """
    if stage in STAGE_CODE:
        fingerprint = {**fingerprint, "code": code_signature(STAGE_CODE[stage])}
    if not force and is_done(work_dir, stage, fingerprint):
        LOG.info("%s: already done with this config (use --force to redo)", stage)
        return None
    clear(work_dir, stage)
    summary = work()
    mark_done(work_dir, stage, fingerprint, summary, outputs)
    return summary
