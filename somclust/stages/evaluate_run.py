"""Stage 05: NMI, purity, ARI and Hungarian accuracy against the true labels, as a leaderboard."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from common.cli import parse_config, stage_parser
from common.atomic_io import read_csv_rows
from common.stage import input_signatures, run_once
from evaluate.figures import save_summary_figure
from evaluate.run import evaluate_run

KEYS = ("IMG_DIR", "RUN_DIR", "BACKBONE", "WEIGHTS", "IMAGE_SIZE", "FT_EPOCHS", "FEATURE_SET",
        "SOM_IMPL", "SOM_ROWS", "SOM_COLS")
INPUTS = ("clusters.csv", "clusters_pretrained.csv", "clusters_reviewed.csv")


def run_key(config) -> str:
    """A readable key for the leaderboard: what distinguishes this run."""
    return (f"{config.BACKBONE}/{config.WEIGHTS}/{config.IMAGE_SIZE}px/ft{config.FT_EPOCHS}/"
            f"{config.FEATURE_SET}/{config.SOM_IMPL}-som{config.SOM_ROWS}x{config.SOM_COLS}")


def main(argv: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
         prog: str | None = None) -> int:
    args, config = parse_config(stage_parser(__doc__, KEYS, prog), argv, overrides)

    def work() -> dict:
        result = evaluate_run(config.work_dir, config.run_dir, config.IMG_DIR, run_key(config),
                              config.SEED)
        if result["rows"]:
            save_summary_figure(config.run_dir / "report.png", result["y_true"],
                                result["y_pred"],
                                read_csv_rows(config.run_dir / "clusters_k_scores.csv"),
                                run_key(config))
        return {"rows": result["rows"], "scored_images": result["scored_images"]}

    fingerprint = {**config.fingerprint(KEYS + ("SEED",)),
                   "inputs": input_signatures(config.run_dir, INPUTS)}
    summary = run_once(config.run_dir, "05_evaluate", fingerprint, args.force, work,
                       outputs=("labels_pred.txt",))
    if summary and summary["rows"]:          # (nothing to score: evaluate_run said why)
        print(f"scored {summary['scored_images']} images with a true label  (run {run_key(config)})")
        print(f"{'method':<56} {'NMI':>6} {'purity':>6} {'ARI':>6} {'ACC':>6} {'k':>4}")
        for row in summary["rows"]:
            print(f"{row['method']:<56} {row['NMI']:6.3f} {row['purity']:6.3f} {row['ARI']:6.3f} "
                  f"{row['ACC']:6.3f} {row['k_pred']:>2}/{row['k_true']}")
        print(f"leaderboard: {config.work_dir}/leaderboard.md   figure: {config.run_dir}/report.png")
    return 0

