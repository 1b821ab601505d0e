#!/usr/bin/env python3
"""Stage 06: a self-contained HTML report of the run (figures also saved as PNG); --export DIR
writes one folder per cluster with copies of the raw images and a clusters.csv."""
from __future__ import annotations

from pathlib import Path

from common.atomic_io import read_csv_rows
from common.cli import parse_config, run_main, stage_parser
from common.errors import SomclustError
from common.stage import input_signatures, run_once
from evaluate.export import export_clusters
from evaluate.report import RunPaths, build_report
from preprocess.labels import read_labels

KEYS = ("RAW_DIR", "IMG_DIR", "MASK_DIR", "RUN_DIR", "BACKBONE", "REPORT_DIR", "REPORT_SAMPLE",
        "REPORT_MONTAGE")
INPUTS = ("clusters.csv", ".stages/05_evaluate.json", "model/training_log.csv")


def main(argv=None, overrides=None) -> int:
    parser = stage_parser(__doc__, KEYS)
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
        label_of = {i.file: i.label for i in read_labels(config.work_dir)}
        assignments = [(r["file"], int(r["cluster"]), label_of.get(r["file"], ""))
                       for r in read_csv_rows(clusters_csv)]
        done = export_clusters(assignments, config.RAW_DIR, args.export, replace=args.force)
        print(f"exported {done['exported']} images into {done['clusters']} cluster folders under "
              f"{done['destination']} ({done['missing']} raw files missing or unreadable)")
    return 0


if __name__ == "__main__":
    run_main(main)
