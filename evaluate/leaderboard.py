"""A leaderboard (CSV + markdown) with one row per (run, method), best ARI first."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from common.atomic_io import atomic_write_csv, atomic_write_text, read_csv_rows

COLUMNS = ("run", "method", "NMI", "purity", "ARI", "ACC", "k_pred", "k_true", "images", "date")


def update_leaderboard(path_csv: str | Path, rows: Sequence[dict]) -> list[dict]:
    """Replace rows with the same (run, method), add the new ones, sort by ARI; write both files."""
    path_csv = Path(path_csv)
    existing = read_csv_rows(path_csv) if path_csv.exists() else []
    keys = {(r["run"], r["method"]) for r in rows}
    merged = [r for r in existing if (r["run"], r["method"]) not in keys]
    merged += [{c: _format(r.get(c, "")) for c in COLUMNS} for r in rows]
    merged.sort(key=lambda r: -float(r["ARI"] or 0))
    atomic_write_csv(path_csv, COLUMNS, [[r.get(c, "") for c in COLUMNS] for r in merged])
    atomic_write_text(path_csv.with_suffix(".md"), markdown_table(merged))
    return merged


def _format(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown_table(rows: Sequence[dict]) -> str:
    """Rows as a GitHub markdown table with a rank column."""
    lines = ["| # | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    lines += [f"| {rank} | " + " | ".join(str(r.get(c, "")) for c in COLUMNS) + " |"
              for rank, r in enumerate(rows, start=1)]
    return "\n".join(lines) + "\n"
