"""Build the default dataset: Fashion-MNIST items composited onto real photos (raw_img/)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from common.cli import parse_config, stage_parser
from common.stage import run_once
from preprocess.demo_dataset import DemoSpec, build_demo_dataset

KEYS = ("FASHION_MNIST_DIR", "RAW_DIR", "TRUE_MASK_DIR", "LABELS_CSV", "DEMO_IMAGE_SIZE",
        "DEMO_LABELED_CLASSES", "DEMO_LABELED_PER_CLASS", "DEMO_UNLABELED_PER_CLASS")


def main(argv: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
         prog: str | None = None) -> int:
    parser = stage_parser(__doc__, KEYS, prog)
    parser.add_argument("--full", action="store_true",
                        help="unlabeled part = the whole 10,000-image test split")
    args, config = parse_config(parser, argv, overrides, remember_inputs=False)
    if args.full:
        config = config.with_overrides({"DEMO_UNLABELED_PER_CLASS": 1000})
    spec = DemoSpec(config.DEMO_IMAGE_SIZE, tuple(config.DEMO_LABELED_CLASSES),
                    config.DEMO_LABELED_PER_CLASS, config.DEMO_UNLABELED_PER_CLASS, config.SEED)
    summary = run_once(config.work_dir, "demo_dataset", config.fingerprint(KEYS + ("SEED",)),
                       args.force, lambda: build_demo_dataset(
                           config.FASHION_MNIST_DIR, config.RAW_DIR, config.TRUE_MASK_DIR,
                           config.LABELS_CSV, spec))
    if summary:
        print(f"demo dataset: {summary['images']} images ({summary['labeled']} labeled, "
              f"{summary['unlabeled']} unlabeled) in {config.RAW_DIR}")
    return 0

