"""Stage 07: assign new images (files or folders) to the clusters of a finished run, with the
run's own background removal, network and SOM; writes a CSV (path, cluster, som_node, distance to
the cluster's centre, novel = farther than NOVELTY_PERCENTILE of the cluster's own images, error)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

from common.atomic_io import atomic_write_csv
from common.cli import parse_config, stage_parser
from common.errors import SomclustError
from common.paths import is_inside
from somclust.prediction import ClusterPredictor

KEYS = ("RUN_DIR", "BACKBONE", "NOVELTY_PERCENTILE")


def main(argv: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
         prog: str | None = None) -> int:
    parser = stage_parser(__doc__, KEYS, prog)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument("--output", metavar="CSV", help="where to write the predictions "
                        "(default: RUN_DIR/predictions.csv)")
    args, config = parse_config(parser, argv, overrides)
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise SomclustError(f"no such file or folder: {', '.join(missing)}")
    output = Path(args.output) if args.output else config.run_dir / "predictions.csv"
    folders = [config.RAW_DIR, *(p for p in args.paths if Path(p).is_dir())] if args.output else []
    for folder in folders:
        if is_inside(output, folder):
            raise SomclustError(f"--output {output} is inside the image folder {folder}, which "
                                "is only read: choose a file outside it")
    predictions = ClusterPredictor(config.work_dir, config.run_dir,
                                   config.NOVELTY_PERCENTILE).predict(args.paths)
    atomic_write_csv(output, ("path", "cluster", "som_node", "distance", "novel", "error"),
                     [(p.path, p.cluster, p.som_node, f"{p.distance:.4f}", int(p.novel), p.error)
                      for p in predictions])
    usable = [p for p in predictions if not p.error]
    counts = ", ".join(f"cluster {c}: {n}" for c, n in sorted(Counter(p.cluster for p in usable).items()))
    print(f"predicted {len(usable)} of {len(predictions)} images ({counts or 'none'}) -> {output}")
    novel = sum(p.novel for p in usable)
    if novel:
        print(f"{novel} image(s) flagged novel: farther from their cluster's centre than "
              f"{config.NOVELTY_PERCENTILE:g} % of the cluster's own images (column 'novel')")
    if not usable:
        raise SomclustError("none of the given images could be read; see the skipped lines above")
    return 0

