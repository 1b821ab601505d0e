"""Which features to cluster with (``FEATURE_SET=auto``), judged on classes the network never saw.

Fine-tuning sharpens the known classes; what the clustering needs is how the features treat the
classes *not* trained on, and that differs per image set and label budget (on the quality suite
the un-fine-tuned features beat both side by side on glyphs and Fashion-MNIST at 30 % labels,
and lose elsewhere). So stage 02 asks the labels: the known classes are split into held-out
groups (two, or one class each when there are three); for each group the backbone is fine-tuned
with the run's settings on the other groups' labeled images only, and each view - the
un-fine-tuned network (``pretrained``), that held-out fine-tuning (``finetuned``), both side by
side - is scored on the held-out group's labeled images: does an image's class win the vote of
its 5 nearest labeled images of *all* known classes (:func:`finetune.image_source.neighbour_votes`;
an unseen class pulled onto a trained one counts as a miss). The run clusters with the
un-fine-tuned features when they beat ``both`` by more than one standard deviation of a sign
test on the images only one of them gets right (:func:`finetune.image_source.clearly_better`;
with 20-50 labeled images a one-image lead is noise), else with ``both``. The fine-tuned view
alone is scored (printed) but not chosen: trained on a few hundred images it can look best here
and still lose to ``both`` after a full fine-tuning (Fashion-MNIST: 0.713 vs 0.752 NMI).
Opt-in: it gains on 2 of the quality suite's 18 cells, but on the demo it also prefers the
un-fine-tuned features and loses 0.06 NMI (docs/experiments.md, 2026-12-01).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from common.atomic_io import atomic_write_json
from common.errors import SomclustError
from extract.features import combine_features
from finetune.image_source import clearly_better, comparison_draw, neighbour_votes

VIEWS = ("pretrained", "finetuned", "both")      # scored
DEFAULT_VIEW = "both"
ALTERNATIVE_VIEW = "pretrained"                  # chosen instead when clearly better
PER_CLASS = 200                 # labeled images per class trained on and scored (bounds the cost)
CHOICE_FILE = "view_choice.json"   # in RUN_DIR/model: {"view": ..., "accuracy": {...}, ...}


def held_out_groups(classes: Sequence[str], seed: int) -> list[list[str]]:
    """The groups of known classes held out in turn: two halves of a seeded shuffle when there
    are 4 or more, each class alone when there are 3 (the rest must hold 2 classes to train a
    classifier), none with fewer."""
    classes = sorted(set(classes))
    if len(classes) < 3:
        return []
    if len(classes) == 3:
        return [[c] for c in classes]
    order = [classes[i] for i in np.random.default_rng(seed).permutation(len(classes))]
    return [sorted(order[0::2]), sorted(order[1::2])]


def view_hits(pretrained: np.ndarray, finetuned: np.ndarray, labels: Sequence[str],
              queries: np.ndarray) -> dict[str, np.ndarray]:
    """{view: whether each query row's class wins its neighbours' vote} among all rows, for the
    features of the un-fine-tuned network and of a network fine-tuned without the queries'
    classes (rows aligned)."""
    features = {"pretrained": pretrained, "finetuned": finetuned,
                "both": combine_features([finetuned, pretrained])}
    return {view: neighbour_votes(features[view], labels)[queries] for view in VIEWS}


def choose_view(hits: dict[str, np.ndarray]) -> str:
    """The un-fine-tuned view if it beats the default beyond noise (one standard deviation of
    the sign test), else the default."""
    return (ALTERNATIVE_VIEW if clearly_better(hits[ALTERNATIVE_VIEW], hits[DEFAULT_VIEW], sds=1.0)
            else DEFAULT_VIEW)


def check_views(paths: Sequence[str | Path], labels: Sequence[str],
                fine_tune_without: Callable[[list[str], list[str], int], Callable],
                pretrained_of: Callable[[list[str]], np.ndarray], seed: int) -> dict:
    """Run the held-out-class check on the labeled images; returns {"view", "accuracy" (per view,
    over every held-out image), "groups", "images"}. ``fine_tune_without(paths, labels, number)``
    fine-tunes on those images (held-out group ``number``) and returns a features function;
    ``pretrained_of(paths)`` gives the un-fine-tuned network's features."""
    labels = np.asarray(labels)
    groups = held_out_groups(labels.tolist(), seed)
    if not groups:
        return {"view": DEFAULT_VIEW, "accuracy": {}, "groups": [], "images": 0,
                "reason": f"{len(set(labels.tolist()))} known classes: the check needs 3"}
    rows = comparison_draw(labels, PER_CLASS, seed)
    paths, labels = [str(paths[i]) for i in rows], labels[rows]
    pretrained = pretrained_of(paths)
    hits: dict[str, list[np.ndarray]] = {view: [] for view in VIEWS}
    for number, group in enumerate(groups):
        held_out = np.isin(labels, group)
        features_of = fine_tune_without([p for p, h in zip(paths, held_out) if not h],
                                        labels[~held_out].tolist(), number)
        for view, view_hit in view_hits(pretrained, features_of(paths), labels.tolist(),
                                        np.flatnonzero(held_out)).items():
            hits[view].append(view_hit)
    pooled = {view: np.concatenate(parts) for view, parts in hits.items()}
    return {"view": choose_view(pooled),
            "accuracy": {view: float(pooled[view].mean()) for view in VIEWS},
            "groups": groups, "images": len(paths)}


def check_run_views(config, paths: Sequence[str | Path], labels: Sequence[str]) -> dict:
    """Stage 02's check for a run (``config``: its Config) on its labeled images (the version
    the network sees): the held-out fine-tunings go to RUN_DIR/model/held_out_<n> (resumed if
    killed, removed once the choice is saved in RUN_DIR/model/view_choice.json)."""
    from finetune.backbones import pretrained_features, saved_model_features
    from finetune.train import FINAL_MODEL, FineTuneSettings, fine_tune

    settings = FineTuneSettings.from_config(config)
    model_dir = config.run_dir / "model"

    def fine_tune_without(train_paths: list[str], train_labels: list[str], number: int):
        fold_dir = model_dir / f"held_out_{number}"
        fine_tune(train_paths, train_labels, fold_dir, settings)
        return saved_model_features(fold_dir / FINAL_MODEL, config.IMAGE_SIZE,
                                    max_side=config.WORK_MAX_SIDE)

    choice = check_views(paths, labels, fine_tune_without,
                         pretrained_features(config.BACKBONE, config.WEIGHTS, config.IMAGE_SIZE,
                                             config.SEED, max_side=config.WORK_MAX_SIDE),
                         config.SEED)
    atomic_write_json(model_dir / CHOICE_FILE, choice)
    for fold_dir in model_dir.glob("held_out_*"):
        shutil.rmtree(fold_dir, ignore_errors=True)
    return choice


def feature_set_used(run_dir: str | Path, feature_set: str) -> str:
    """The feature set a run clusters with: ``feature_set``, or for ``auto`` the view stage 02
    chose (RUN_DIR/model/view_choice.json)."""
    if feature_set != "auto":
        return feature_set
    path = Path(run_dir) / "model" / CHOICE_FILE
    if not path.exists():
        raise SomclustError(f"{path} not found: FEATURE_SET=auto needs the view stage 02 "
                            "chooses - run 02_finetune.py with FEATURE_SET=auto first")
    return json.loads(path.read_text())["view"]


def describe_choice(run_dir: str | Path) -> str:
    """One line on stage 02's choice ("" when it made none)."""
    path = Path(run_dir) / "model" / CHOICE_FILE
    if not path.exists():
        return ""
    choice = json.loads(path.read_text())
    if not choice["accuracy"]:
        return f"features: {choice['view']} ({choice.get('reason', 'no check')})"
    return (f"features: {choice['view']} (5-NN accuracy on held-out known classes, "
            f"{choice['images']} labeled images: " + ", ".join(
                f"{view} {value:.3f}" for view, value in choice["accuracy"].items()) + ")")
