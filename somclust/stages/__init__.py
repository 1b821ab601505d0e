"""The stages of somclust, in order: each module's ``main(argv, overrides, prog)`` runs one.

The numbered scripts at the top of the repository (``00_make_labels.py`` ...) and the
``somclust`` command's subcommands are thin entry points over the same ``main`` functions.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Stage:
    """One stage: its ``somclust`` subcommand, numbered script, module and one-line summary."""

    command: str
    script: str
    module: str
    summary: str

    def load(self) -> ModuleType:
        """The stage's module (its ``main`` runs the stage; TensorFlow loads only where needed)."""
        return importlib.import_module(f"somclust.stages.{self.module}")


DEMO = Stage("demo", "make_demo_dataset", "demo_dataset",
             "build the default dataset: Fashion-MNIST items on real photos, in RAW_DIR")
PIPELINE = (
    Stage("labels", "00_make_labels", "make_labels",
          "true labels from sub-folders, a CSV or D2 file names (for training and scoring)"),
    Stage("background", "01_remove_background", "remove_background",
          "OpenCV background removal, RAW_DIR -> IMG_DIR (the raw folder is only read)"),
    Stage("finetune", "02_finetune", "fine_tune",
          "fine-tune the network on the labeled classes (albumentations augmentation)"),
    Stage("extract", "03_extract_features", "extract_features",
          "features of every image (cached, resumable; Ray actors with --ray)"),
    Stage("cluster", "04_cluster", "cluster_features",
          "Self-Organizing Map clustering with the number of clusters predicted"),
    Stage("evaluate", "05_evaluate", "evaluate_run",
          "NMI, purity, ARI and accuracy against the true labels, as a leaderboard"),
    Stage("report", "06_report", "report",
          "a self-contained HTML report of the run"),
)
AFTER = (
    Stage("predict", "07_predict", "predict",
          "assign new images (files or folders) to the run's clusters"),
    Stage("review", "08_review", "review",
          "review and correct the clusters in the browser; saved beside the original"),
    Stage("export", "export", "export",
          "copy the raw images into one folder per cluster"),
)
ALL = (DEMO, *PIPELINE, *AFTER)


def find_stage(name: str) -> Stage:
    """The stage named by its subcommand or its script name (``cluster`` or ``04_cluster``)."""
    for stage in ALL:
        if name in (stage.command, stage.script):
            return stage
    raise ValueError(f"unknown stage {name!r}; stages: {', '.join(s.command for s in ALL)}")
