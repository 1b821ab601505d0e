"""Refusing early when an output will not fit on its disk."""
from __future__ import annotations

import shutil
from pathlib import Path

from common.errors import SomclustError

MARGIN_BYTES = 64 * 1024 * 1024     # logs, indexes and checkpoints beside the big file


def require_free_space(folder: str | Path, needed_bytes: int, what: str) -> None:
    """Raise SomclustError when ``folder``'s disk has less than ``needed_bytes`` (+ margin) free."""
    free = shutil.disk_usage(folder).free
    if free < needed_bytes + MARGIN_BYTES:
        raise SomclustError(f"not enough disk space in {folder} for {what}: about "
                            f"{(needed_bytes + MARGIN_BYTES) / 2**20:,.0f} MiB needed, "
                            f"{free / 2**20:,.0f} MiB free; free some space or point RUN_DIR "
                            "at a larger disk")
