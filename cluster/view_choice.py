"""``FEATURE_SET=auto``: the fine-tuned or the un-fine-tuned network's features, whichever the
clustering finds more clustered.

Each view is clustered as stage 04 does; the one whose grouping reaches the higher modularity on
its own features' nearest-neighbour graph (the criterion the cluster count already reads: the
grouping scored against the features' own graph, not against the labels) is kept. Fine-tuning on a few labels can leave the features of classes it never saw
less clustered than the pretrained network left them (icon themes grouped by their context
folder); the modularity sees that where a score on the labeled images, which the network was
trained on, cannot. On the quality suite (six sets, three label budgets, three fine-tuning
draws, 8 stage-04 seeds a cell) against the fine-tuned view alone: +0.005 mean NMI on the
unlabeled images (p = 0.014; 12 cells up, 5 down), the GNOME icons up to +0.06, no cell down by
more than 0.017; the un-fine-tuned pipeline matched (within 0.01) on 17 of 18 pooled cells
instead of 15; k̂ within 1 of k on 342 of 432 runs instead of 336; without labels +0.003
(docs/experiments.md, 2026-12-04 night)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from cluster.clusterer import SOMClusterer
from extract.features import FEATURE_SET_NAMES

CANDIDATE_VIEWS = ("finetuned", "pretrained")   # the views FEATURE_SET=auto chooses between


def highest_modularity(model: SOMClusterer) -> float:
    """The highest modularity over the fitted clusterer's k range (``modularity_``; NaN for a k
    the anchored grouping does not reach): how clustered its features are."""
    values = np.asarray(model.modularity_, dtype=np.float64)
    if not np.isfinite(values).any():
        raise ValueError("the clusterer has no modularity: it was not fitted")
    return float(np.nanmax(values))


def choose_view(modularities: Mapping[str, float]) -> str:
    """The view of the highest modularity in ``{view: highest modularity}``; on a tie the first
    given (list the fine-tuned view first)."""
    if not modularities:
        raise ValueError("no view to choose from")
    return max(modularities, key=lambda view: (modularities[view], -list(modularities).index(view)))


def kept_view(models: Mapping[str, SOMClusterer]) -> str:
    """The view whose fitted clusterer in ``{view: clusterer}`` reached the highest modularity
    (:func:`highest_modularity`, :func:`choose_view`)."""
    return choose_view({view: highest_modularity(model) for view, model in models.items()})


def view_choice_note(summary: Mapping[str, Any]) -> str:
    """Which view FEATURE_SET=auto kept and each candidate's highest modularity, from stage 04's
    summary of ``clusters`` (its ``feature_set`` and ``view_modularity``)."""
    values = ", ".join(f"{FEATURE_SET_NAMES[view]} {value:.3f}"
                       for view, value in summary["view_modularity"].items())
    restarts = summary.get("restarts", 1)
    draws = f", each view's the most modular of {restarts} SOM draws" if restarts > 1 else ""
    return (f"features: {FEATURE_SET_NAMES[summary['feature_set']]} (FEATURE_SET=auto keeps the "
            f"clustering of the higher modularity{draws}: {values})")
