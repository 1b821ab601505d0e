"""The whole pipeline from Python: the same stage scripts, driven with config overrides.

    from somclust import Pipeline
    pipeline = Pipeline(WORK_DIR="work", BACKBONE="efficientnet_lite0", WEIGHTS="imagenet")
    pipeline.run()                          # stages 00-06 (each is a no-op when already done)
    pipeline.clusters()                     # {raw file: cluster}
    pipeline.predict(["new/photo.jpg"])     # [Prediction(path, cluster, som_node, error)]
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from common.atomic_io import read_csv_rows
from config import Config, load_config
from somclust.stages import DEMO, PIPELINE, find_stage

STAGES = tuple(stage.script for stage in PIPELINE)       # 00_make_labels ... 06_report


class Pipeline:
    """A run of somclust configured by config keys (``Pipeline(SOM_ROWS=8, ...)``).

    Keys not given come from environment variables, then from config.py. Errors are raised as
    ``common.errors.SomclustError`` / ``config.ConfigError`` with the same messages the scripts
    print.
    """

    def __init__(self, **overrides: Any):
        self.overrides = overrides
        self.config: Config = load_config(overrides)
        self._predictor = None

    def run_stage(self, name: str, *flags: str, force: bool = False) -> None:
        """Run one stage, named by its script or ``somclust`` subcommand (``04_cluster`` or
        ``cluster``); ``flags`` are extra CLI flags, e.g. ``--full``."""
        argv = [*flags, *(["--force"] if force else [])]
        find_stage(name).load().main(argv, self.overrides)

    def make_demo_dataset(self, force: bool = False) -> "Pipeline":
        """Build the default dataset (Fashion-MNIST on real photos) into RAW_DIR."""
        self.run_stage(DEMO.script, force=force)
        return self

    def run(self, stages: Sequence[str] = STAGES, force: bool = False) -> "Pipeline":
        """Run ``stages`` in order (finished ones are skipped unless ``force``)."""
        for name in stages:
            self.run_stage(name, force=force)
        self._predictor = None
        return self

    def clusters(self) -> dict[str, int]:
        """{file relative to RAW_DIR: cluster} of the finished run."""
        from evaluate.run import read_clusters   # evaluate loads keras: only when asked

        return read_clusters(self.config.run_dir / "clusters.csv")

    def leaderboard(self) -> list[dict[str, str]]:
        """The rows of WORK_DIR/leaderboard.csv, best ARI first."""
        return read_csv_rows(self.config.work_dir / "leaderboard.csv")

    @property
    def report_path(self) -> Path:
        return Path(self.config.REPORT_DIR) / "report.html"

    def predict(self, paths: Iterable[str | os.PathLike]):
        """Assign new images (files or folders) to this run's clusters."""
        from somclust.prediction import ClusterPredictor

        if self._predictor is None:
            self._predictor = ClusterPredictor(self.config.work_dir, self.config.run_dir,
                                               self.config.NOVELTY_PERCENTILE)
        return self._predictor.predict(list(paths))


def run(**overrides: Any) -> Pipeline:
    """Run every stage with these config overrides; returns the finished Pipeline."""
    return Pipeline(**overrides).run()


def predict(paths: Iterable[str | os.PathLike], **overrides: Any):
    """Assign new images to the clusters of the run these overrides name."""
    return Pipeline(**overrides).predict(paths)
