"""Atomic file writes: write a temporary file beside the target, then rename it into place.

A stage killed midway therefore leaves either the old file or the new one, never half a file.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Sequence


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


FILE_MODE = 0o666 & ~_umask()   # what an ordinary new file gets; mkstemp's are owner-only
TEMP_NAME_KEPT = 200            # bytes of the final name kept in a temporary file's name
COPY_CHUNK = 1 << 20            # bytes read at a time by atomic_copy_file


def _holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a file holding exactly ``data``."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


@contextmanager
def _replacing(path: Path) -> Iterator[BinaryIO]:
    """A handle on a temporary file beside ``path`` (parents created) that replaces ``path``
    once written; on an error the temporary file is removed and ``path`` left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # the name is cut so that the temporary one fits wherever the final one does (255 bytes)
    kept = path.name.encode("utf-8", "surrogateescape")[:TEMP_NAME_KEPT]
    prefix = f".{kept.decode('utf-8', 'ignore')}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parents are created). Returns the path.

    A file that already holds exactly ``data`` is left untouched: its modification time - part
    of the next stages' fingerprints - stays, so re-running a stage that produces the same
    output does not make every later stage run again."""
    path = Path(path)
    if not _holds(path, data):
        with _replacing(path) as handle:
            handle.write(data)
    return path


def atomic_copy_file(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Copy the file ``source`` to ``path`` atomically (parents are created). Returns the path."""
    path = Path(path)
    with open(source, "rb") as original, _replacing(path) as handle:
        shutil.copyfileobj(original, handle, COPY_CHUNK)
    return path


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete the temporary files a killed atomic write left below ``folder`` (``.<name>.*.tmp``);
    call it only on folders no other running process writes to. Returns how many."""
    removed = 0
    for path in Path(folder).rglob(".*.tmp") if Path(folder).is_dir() else ():
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_csv(path: str | os.PathLike, header: Sequence[str],
                     rows: Iterable[Sequence[Any]]) -> Path:
    """Write a CSV file (header + rows) atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


def read_csv_rows(path: str | os.PathLike) -> list[dict[str, str]]:
    """Read a CSV file with a header into a list of dicts."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
