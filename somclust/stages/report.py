"""Stage 06: a self-contained HTML report of the run (figures also saved as PNG); --export DIR
also exports the clusters, as `somclust export DIR` does."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from common.cli import parse_config, stage_parser
from common.errors import SomclustError
from common.stage import input_signatures, run_once
from evaluate.report import RunPaths, build_report
from somclust.stages.export import export_run

KEYS = ("RAW_DIR", "IMG_DIR", "MASK_DIR", "RUN_DIR", "BACKBONE", "REPORT_DIR", "REPORT_SAMPLE",
        "REPORT_MONTAGE")
INPUTS = ("clusters.csv", ".stages/05_evaluate.json", "model/training_log.csv")


def main(argv: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
         prog: str | None = None) -> int:
    parser = stage_parser(__doc__, KEYS, prog)
    parser.add_argument("--export", metavar="DIR", help="also write one folder per cluster "
                        "(copies of the raw images) and DIR/clusters.csv")
    args, config = parse_config(parser, argv, overrides)
    paths = RunPaths.from_config(config)
    clusters_csv = config.run_dir / "clusters.csv"
    if not clusters_csv.exists():
        raise SomclustError(f"{clusters_csv} not found: run 04_cluster.py first")
    fingerprint = {**config.fingerprint(KEYS + ("SEED",)),
                   "inputs": input_signatures(config.run_dir, INPUTS)}
    summary = run_once(config.run_dir, "06_report", fingerprint, args.force,
                       lambda: build_report(paths, config.REPORT_DIR,
                                            f"somclust report: {config.run_dir}",
                                            config.REPORT_SAMPLE, config.REPORT_MONTAGE,
                                            config.SEED),
                       outputs=(str(Path(config.REPORT_DIR).resolve() / "report.html"),))
    if summary:
        print(f"report: {summary['report']} ({summary['images']} images, {summary['clusters']} "
              f"clusters, {summary['figures']} figures saved beside it as PNG)")
    else:
        print(f"report: {config.REPORT_DIR}/report.html (up to date)")
    if args.export:
        export_run(config, args.export, replace=args.force)
    return 0

