"""Where a path lies: the checks that keep every output out of the user's image folders."""
from __future__ import annotations

from pathlib import Path


def is_inside(path: str | Path, folder: str | Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both resolved: links, ``..``)."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents
