"""The visual summary of a run: confusion matrix and the k-prediction curves."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

from common.atomic_io import atomic_write_bytes, read_csv_rows  # noqa: E402


def confusion_ordered(y_true: Sequence[str], y_pred: Sequence[int]) -> tuple[np.ndarray, list, list]:
    """Contingency table (classes x clusters) with clusters ordered by the Hungarian matching."""
    classes, clusters = sorted(set(y_true)), sorted(set(y_pred))
    table = np.zeros((len(classes), len(clusters)), dtype=int)
    for t, p in zip(y_true, y_pred):
        table[classes.index(t), clusters.index(p)] += 1
    rows, cols = linear_sum_assignment(-table)
    order = list(cols[np.argsort(rows)]) + [c for c in range(len(clusters)) if c not in cols]
    return table[:, order], classes, [clusters[c] for c in order]


def save_summary_figure(path: str | Path, y_true: Sequence[str], y_pred: Sequence[int],
                        k_scores_csv: str | Path, title: str) -> Path:
    """PNG with the Hungarian-ordered confusion matrix and every criterion's score vs k."""
    table, classes, clusters = confusion_ordered(y_true, y_pred)
    scores = read_csv_rows(k_scores_csv)
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    left.imshow(table, cmap="Blues")
    left.set_xticks(range(len(clusters)), [str(c) for c in clusters])
    left.set_yticks(range(len(classes)), classes)
    left.set_xlabel("cluster")
    left.set_title("true class vs cluster (Hungarian order)")
    for (i, j), value in np.ndenumerate(table):
        if value:
            left.text(j, i, str(value), ha="center", va="center", fontsize=7)
    ks = [int(r["k"]) for r in scores]
    for criterion in [c for c in (scores[0] if scores else {}) if c != "k"]:
        values = np.array([float(r[criterion]) for r in scores])
        span = np.nanmax(values) - np.nanmin(values)
        right.plot(ks, (values - np.nanmin(values)) / (span or 1), marker="o", label=criterion)
    right.set_xlabel("k")
    right.set_ylabel("score (min-max scaled; davies_bouldin: lower is better)")
    right.set_title("cluster-count criteria")
    right.legend()
    figure.suptitle(title)
    figure.tight_layout()
    from io import BytesIO

    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return atomic_write_bytes(path, buffer.getvalue())
