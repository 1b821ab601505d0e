"""Per-file skips: one log line each, collected in ``WORK_DIR/skipped.csv``."""
from __future__ import annotations

import logging
from pathlib import Path

from common.atomic_io import atomic_write_csv, read_csv_rows

LOG = logging.getLogger("somclust")
HEADER = ("stage", "file", "reason")


class SkipLog:
    """Collects unusable files of one stage; ``save`` merges them into skipped.csv."""

    def __init__(self, work_dir: str | Path, stage: str):
        self.path = Path(work_dir) / "skipped.csv"
        self.stage = stage
        self.rows: list[tuple[str, str, str]] = []

    def skip(self, file: str | Path, reason: str) -> None:
        """Record and log one skipped file."""
        LOG.warning("skipped %s: %s", file, reason)
        self.rows.append((self.stage, str(file), reason))

    def __len__(self) -> int:
        return len(self.rows)

    def save(self) -> None:
        """Replace this stage's rows in skipped.csv (other stages' rows are kept)."""
        kept = []
        if self.path.exists():
            kept = [tuple(r[h] for h in HEADER) for r in read_csv_rows(self.path)
                    if r["stage"] != self.stage]
        atomic_write_csv(self.path, HEADER, kept + self.rows)
