#!/usr/bin/env python3
"""Is a change evidence or noise? Two quality-suite results, cell by cell, with a paired test.

``python3 benchmarks/compare_suite.py BASE NEW`` reads two results of ``quality_suite.py``
(labels under ``<work-dir>/results/``, or CSV paths; ``a+b`` joins several, e.g. one per
fine-tuning seed) and pairs their cells (set, labeled share, fine-tuning seed). Printed: per
cell the score of each (default the NMI on the unlabeled images, mean over the stage-04 seeds),
the difference and the k̂ hits; per budget the mean difference and the cells up and down; over
all paired cells the mean difference with a 95 % bootstrap interval and the p-value of a paired
sign-flip permutation test (the cells are the units: a set that gains on every budget and seed
counts as much as its cells say, a single large cell does not carry the mean alone).

Why: stage-04 seeds and fine-tuning draws move single cells by 0.01-0.12 NMI, and a mean gain
of 0.004-0.008 measured on two stage-04 seeds became -0.001 to +0.005 on eight
(docs/experiments.md, 2026-12-02 night). A default that changes is one whose gain here is
larger than the cells' spread says chance gives.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common.atomic_io import read_csv_rows  # noqa: E402

EXACT_CELLS = 16            # up to this many cells the sign-flip test enumerates every flip
DRAWS = 100_000             # otherwise this many seeded random flips (and bootstrap draws)
SAME = 0.001                # a cell whose score moves less than this counts as unchanged

Cell = tuple[str, float, int]


def labeled_result(work_dir: Path, label: str, suffix: str = ".csv") -> Path:
    """Where the quality suite keeps the result ``label`` of ``work_dir``."""
    return work_dir / "results" / f"{label}{suffix}"


def result_path(spec: str, work_dir: Path) -> Path:
    """The CSV a result spec names: a path ending in .csv, else a label under
    ``work_dir/results``; SystemExit naming the labels there when it does not exist."""
    path = Path(spec) if spec.endswith(".csv") else labeled_result(work_dir, spec)
    if not path.is_file():
        known = sorted(p.stem for p in (work_dir / "results").glob("*.csv"))
        raise SystemExit(f"no quality-suite result {path}; labels in {work_dir / 'results'}: "
                         + (", ".join(known) or "none") + " (or give a .csv path)")
    return path


def load_cells(spec: str, work_dir: Path) -> dict[Cell, dict[str, str]]:
    """{(set, budget, fine-tuning seed): result row} of every file in ``spec`` (``a+b``)."""
    cells: dict[Cell, dict[str, str]] = {}
    for part in spec.split("+"):
        path = result_path(part, work_dir)
        for row in read_csv_rows(path):
            key = (row["set"], float(row["budget"]), int(row.get("ft_seed") or 0))
            if key in cells:
                raise SystemExit(f"{path}: cell {key} is also in an earlier file of {spec!r}")
            cells[key] = row
    return cells


def sign_flip_p(differences: np.ndarray, seed: int = 0) -> float:
    """Two-sided p-value of a mean difference of 0 (paired sign-flip permutation test): the
    share of sign patterns whose mean is at least as far from 0 as the observed one; every
    pattern up to :data:`EXACT_CELLS` cells, else :data:`DRAWS` seeded draws."""
    d = np.asarray(differences, dtype=np.float64)
    if not d.size or not d.any():
        return 1.0
    if len(d) <= EXACT_CELLS:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
    else:
        signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(DRAWS, len(d)))
        signs[0] = 1.0                                          # the observed pattern
    means = np.abs(signs @ d) / len(d)
    return float(np.mean(means >= abs(d.mean()) - 1e-12))


def bootstrap_interval(differences: np.ndarray, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """The ``level`` percentile interval of the mean difference over resampled cells."""
    d = np.asarray(differences, dtype=np.float64)
    draws = np.random.default_rng(seed).choice(d, size=(DRAWS // 10, len(d))).mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def compare(base: dict[Cell, dict[str, str]], new: dict[Cell, dict[str, str]],
            score: str = "NMI_seeds") -> dict:
    """The paired cells' scores and differences, and the summary figures (see the module
    docstring); cells in only one result are counted, not compared."""
    paired = sorted(set(base) & set(new))
    if not paired:
        raise SystemExit("the two results share no cell (set, labeled share, fine-tuning seed)")
    rows = [{"cell": key, "base": float(base[key][score]), "new": float(new[key][score]),
             "base_hits": int(base[key]["k_hits_seeds"]), "base_runs": int(base[key]["n_seeds"]),
             "new_hits": int(new[key]["k_hits_seeds"]), "new_runs": int(new[key]["n_seeds"])}
            for key in paired]
    d = np.array([r["new"] - r["base"] for r in rows])
    low, high = bootstrap_interval(d)
    budgets = {}
    for r, delta in zip(rows, d):
        budgets.setdefault(r["cell"][1], []).append(delta)
    return {"rows": rows, "differences": d, "mean": float(d.mean()), "interval": (low, high),
            "p": sign_flip_p(d), "up": int((d >= SAME).sum()), "down": int((d <= -SAME).sum()),
            "budgets": {b: float(np.mean(v)) for b, v in sorted(budgets.items())},
            "unpaired": len(set(base) ^ set(new)),
            "hits": tuple(sum(r[key] for r in rows)
                          for key in ("base_hits", "base_runs", "new_hits", "new_runs"))}


def report(result: dict, base_name: str, new_name: str, score: str = "NMI_seeds") -> str:
    """The comparison as text: one line per cell, then the summary."""
    lines = [f"{'set':<14}{'labeled':>8}{'ft seed':>8}{base_name[:12]:>13}{new_name[:12]:>13}"
             f"{'diff':>8}  k̂ within 1"]
    for r, delta in zip(result["rows"], result["differences"]):
        name, budget, ft_seed = r["cell"]
        lines.append(f"{name:<14}{budget:>8.0%}{ft_seed:>8}{r['base']:>13.3f}{r['new']:>13.3f}"
                     f"{delta:>+8.3f}  {r['base_hits']}/{r['base_runs']} -> "
                     f"{r['new_hits']}/{r['new_runs']}")
    low, high = result["interval"]
    base_hits, base_runs, new_hits, new_runs = result["hits"]
    lines += ["", f"{score}, {new_name} - {base_name}, mean per labeled share: " + ", ".join(
                  f"{b:.0%} {v:+.4f}" for b, v in result["budgets"].items()),
              f"over {len(result['rows'])} paired cells: mean {result['mean']:+.4f}, 95 % "
              f"bootstrap interval [{low:+.4f}, {high:+.4f}], sign-flip p = {result['p']:.3f}; "
              f"{result['up']} cells up, {result['down']} down (by {SAME} or more); k̂ within 1 "
              f"on {base_hits}/{base_runs} -> {new_hits}/{new_runs} runs"
              + (f"; {result['unpaired']} cells in only one result" if result["unpaired"] else ""),
              "verdict: " + ("a difference beyond the cells' spread" if result["p"] < 0.05 else
                             "within what the cells' spread gives by chance: not evidence")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", help="result label or .csv path; a+b joins several")
    parser.add_argument("new", help="the same for the change")
    parser.add_argument("--work-dir", type=Path, default=Path("runs/suite/full"),
                        help="the suite's folder holding results/ (default: %(default)s)")
    parser.add_argument("--score", default="NMI_seeds",
                        help="the column compared (default: %(default)s, NMI on the unlabeled "
                             "images, mean over the stage-04 seeds)")
    args = parser.parse_args(argv)
    base, new = load_cells(args.base, args.work_dir), load_cells(args.new, args.work_dir)
    for name, cells in ((args.base, base), (args.new, new)):
        if not cells:
            raise SystemExit(f"{name}: no result rows")
        row = next(iter(cells.values()))
        if args.score not in row:
            raise SystemExit(f"{name}: no column {args.score!r}; columns: {', '.join(row)}")
    print(report(compare(base, new, args.score), args.base, args.new, args.score))
    return 0


if __name__ == "__main__":
    sys.exit(main())
