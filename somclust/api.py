"""The whole pipeline from Python: the same stage scripts, driven with config overrides.

    from somclust import Pipeline
    pipeline = Pipeline(WORK_DIR="work", BACKBONE="efficientnet_lite0", WEIGHTS="imagenet")
    pipeline.run()                          # stages 00-06 (each is a no-op when already done)
    pipeline.clusters()                     # {raw file: cluster}
    pipeline.predict(["new/photo.jpg"])     # [Prediction(path, cluster, som_node, error)]
"""
from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Sequence

from common.atomic_io import read_csv_rows
from config import Config, load_config

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("00_make_labels", "01_remove_background", "02_finetune", "03_extract_features",
          "04_cluster", "05_evaluate", "06_report")
DEMO_DATASET = "make_demo_dataset"


@lru_cache(maxsize=None)
def load_stage(name: str) -> ModuleType:
    """The stage script ``<name>.py`` as a module (its ``main`` runs the stage)."""
    spec = importlib.util.spec_from_file_location(f"somclust_stage_{name}", ROOT / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ValueError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
        """Run one stage script's ``main`` (``flags`` are extra CLI flags, e.g. ``--full``)."""
        if name not in (*STAGES, DEMO_DATASET):
            raise ValueError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
        argv = [*flags, *(["--force"] if force else [])]
        load_stage(name).main(argv, self.overrides)

    def make_demo_dataset(self, force: bool = False) -> "Pipeline":
        """Build the default dataset (Fashion-MNIST on real photos) into RAW_DIR."""
        self.run_stage(DEMO_DATASET, force=force)
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
