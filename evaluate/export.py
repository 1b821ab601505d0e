"""Export a clustering as one folder per cluster holding copies of the raw images."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Sequence

from common.atomic_io import atomic_write_csv
from common.errors import SomclustError
from common.paths import is_inside

LOG = logging.getLogger("somclust")
EXPORT_HEADER = ("file", "cluster", "label", "exported")


def _is_previous_export(folder: Path) -> bool:
    listing = folder / "clusters.csv"
    try:
        return listing.read_text(encoding="utf-8").startswith(",".join(EXPORT_HEADER))
    except (OSError, UnicodeDecodeError):
        return False


def _unique_name(file: str, taken: set[str]) -> str:
    """The file's base name, or its relative path flattened with '__' when the name is taken."""
    name = Path(file).name
    if name in taken:
        name = file.replace("/", "__")
    while name in taken:
        name = f"_{name}"
    taken.add(name)
    return name


def export_clusters(assignments: Sequence[tuple[str, int, str]], raw_dir: str | Path,
                    destination: str | Path, replace: bool = False) -> dict:
    """Copy each raw image (file relative to ``raw_dir``, cluster, true label) into
    ``destination/cluster_<c>/`` and write ``destination/clusters.csv``.

    The folder is built beside ``destination`` and renamed into place at the end, so an
    interrupted export leaves no half-filled folder. ``raw_dir`` is only read.
    """
    raw_dir, destination = Path(raw_dir).resolve(), Path(destination).resolve()
    if is_inside(destination, raw_dir) or is_inside(raw_dir, destination):
        raise SomclustError(f"the export folder {destination} overlaps RAW_DIR {raw_dir}; the raw "
                            "folder is never written to: choose a folder outside it")
    if destination.exists() and any(destination.iterdir()):
        if not _is_previous_export(destination):
            raise SomclustError(f"the export folder {destination} is not empty and not a previous "
                                "export (no clusters.csv of ours in it); choose a new or empty "
                                "folder")
        if not replace:
            raise SomclustError(f"the export folder {destination} holds a previous export and is "
                                "not empty; choose a new folder or add --force to replace it")
    building = destination.with_name(f".{destination.name}.partial")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    taken: dict[int, set[str]] = {}
    rows, missing = [], 0
    for file, cluster, label in assignments:
        source = raw_dir / file
        if not source.is_file():
            missing += 1
            continue
        folder = f"cluster_{cluster:02d}" if cluster >= 0 else "unclustered"
        name = _unique_name(file, taken.setdefault(cluster, set()))
        (building / folder).mkdir(exist_ok=True)
        try:
            shutil.copy2(source, building / folder / name)
        except OSError as error:
            LOG.warning("not exported %s: %s", source, error)
            missing += 1
            continue
        rows.append((file, cluster, label, f"{folder}/{name}"))
    atomic_write_csv(building / "clusters.csv", EXPORT_HEADER, rows)
    if destination.exists():
        shutil.rmtree(destination)
    building.rename(destination)
    return {"exported": len(rows), "missing": missing, "clusters": len(taken),
            "destination": str(destination)}
