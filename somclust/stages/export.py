"""Export: one folder per cluster holding copies of the raw images, and DIR/clusters.csv
(file, cluster, true label). The raw folder is only read; --force replaces an earlier export."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from common.atomic_io import read_csv_rows
from common.cli import parse_config, stage_parser
from common.errors import SomclustError
from config import Config
from evaluate.export import export_clusters
from preprocess.labels import read_labels

KEYS = ("RAW_DIR", "RUN_DIR", "BACKBONE")


def export_run(config: Config, destination: str | Path, replace: bool) -> None:
    """Copy the run's raw images into one folder per cluster under ``destination``; print a line."""
    clusters_csv = config.run_dir / "clusters.csv"
    if not clusters_csv.exists():
        raise SomclustError(f"{clusters_csv} not found: run 04_cluster.py (somclust cluster) first")
    label_of = {i.file: i.label for i in read_labels(config.work_dir)}
    assignments = [(r["file"], int(r["cluster"]), label_of.get(r["file"], ""))
                   for r in read_csv_rows(clusters_csv)]
    done = export_clusters(assignments, config.RAW_DIR, destination, replace=replace)
    print(f"exported {done['exported']} images into {done['clusters']} cluster folders under "
          f"{done['destination']} ({done['missing']} raw files missing or unreadable)")


def main(argv: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
         prog: str | None = None) -> int:
    parser = stage_parser(__doc__, KEYS, prog)
    parser.add_argument("destination", metavar="DIR", help="folder to write (outside RAW_DIR)")
    args, config = parse_config(parser, argv, overrides)
    export_run(config, args.destination, args.force)
    return 0
