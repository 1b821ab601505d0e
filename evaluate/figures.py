"""matplotlib figures of a run, each returned as PNG bytes (the report embeds and saves them)."""
from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

from common.atomic_io import atomic_write_bytes  # noqa: E402


def confusion_ordered(y_true: Sequence[str], y_pred: Sequence[int]) -> tuple[np.ndarray, list, list]:
    """Contingency table (classes x clusters) with clusters ordered by the Hungarian matching."""
    classes, clusters = sorted(set(y_true)), sorted(set(y_pred))
    table = np.zeros((len(classes), len(clusters)), dtype=int)
    for t, p in zip(y_true, y_pred):
        table[classes.index(t), clusters.index(p)] += 1
    rows, cols = linear_sum_assignment(-table)
    order = list(cols[np.argsort(rows)]) + [c for c in range(len(clusters)) if c not in cols]
    return table[:, order], classes, [clusters[c] for c in order]


def to_png(figure: plt.Figure, dpi: int = 100) -> bytes:
    """Render and close ``figure``."""
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()


def draw_confusion(axes: plt.Axes, y_true: Sequence[str], y_pred: Sequence[int]) -> None:
    table, classes, clusters = confusion_ordered(y_true, y_pred)
    axes.imshow(table, cmap="Blues")
    axes.set_xticks(range(len(clusters)), [str(c) for c in clusters])
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("cluster")
    axes.set_ylabel("true class")
    axes.set_title("true class vs cluster (Hungarian order)")
    for (i, j), value in np.ndenumerate(table):
        if value:
            axes.text(j, i, str(value), ha="center", va="center", fontsize=7)


def draw_k_curves(axes: plt.Axes, k_scores: Sequence[Mapping[str, str]],
                  chosen_k: int | None = None) -> None:
    """The modularity of each k's grouping (``<name>_k_scores.csv``; none in a file written
    before it was the count), and the chosen k."""
    ks = np.array([int(r["k"]) for r in k_scores])
    values = np.array([float(r.get("modularity", "nan")) for r in k_scores])
    axes.plot(ks[~np.isnan(values)], values[~np.isnan(values)], marker="o", label="modularity")
    if chosen_k is not None:
        axes.axvline(chosen_k, color="grey", linestyle="--", label=f"chosen k = {chosen_k}")
    axes.set_xlabel("k")
    axes.set_ylabel("modularity")
    axes.set_title("the cluster count: modularity of each k's grouping")
    axes.legend(fontsize=8)


def save_summary_figure(path: str | Path, y_true: Sequence[str], y_pred: Sequence[int],
                        k_scores: Sequence[Mapping[str, str]], title: str) -> Path:
    """PNG with the Hungarian-ordered confusion matrix and the modularity vs k."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    draw_confusion(left, y_true, y_pred)
    draw_k_curves(right, k_scores, len(set(y_pred)))
    figure.suptitle(title)
    figure.tight_layout()
    return atomic_write_bytes(path, to_png(figure, dpi=110))


def confusion_figure(y_true: Sequence[str], y_pred: Sequence[int]) -> bytes:
    figure, axes = plt.subplots(figsize=(7, 5.5))
    draw_confusion(axes, y_true, y_pred)
    figure.tight_layout()
    return to_png(figure)


def k_curves_figure(k_scores: Sequence[Mapping[str, str]], chosen_k: int) -> bytes:
    figure, axes = plt.subplots(figsize=(7, 5))
    draw_k_curves(axes, k_scores, chosen_k)
    figure.tight_layout()
    return to_png(figure)


def som_maps_figure(umatrix: np.ndarray, hits: np.ndarray, unit_clusters: np.ndarray) -> bytes:
    """U-matrix, hit map and the cluster of each SOM unit, side by side."""
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    panels = ((umatrix, "U-matrix (mean distance to neighbours)", "bone_r"),
              (hits, "hit map (images per unit)", "viridis"),
              (unit_clusters, "cluster of each unit", "tab20"))
    for ax, (values, title, cmap) in zip(axes, panels):
        image = ax.imshow(values, cmap=cmap, interpolation="nearest")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        if cmap != "tab20":
            figure.colorbar(image, ax=ax, fraction=0.046)
    rows, cols = unit_clusters.shape
    for i in range(rows):
        for j in range(cols):
            axes[2].text(j, i, str(unit_clusters[i, j]), ha="center", va="center", fontsize=7)
    figure.tight_layout()
    return to_png(figure)


def embedding_figure(xy: np.ndarray, clusters: Sequence[int], labels: Sequence[str]) -> bytes:
    """The 2-D embedding coloured by cluster and, where known, by true label."""
    known = np.array([bool(label) for label in labels])
    figure, axes = plt.subplots(1, 2 if known.any() else 1, figsize=(14 if known.any() else 7, 6),
                                squeeze=False)
    panels = [("coloured by cluster", np.asarray(clusters), np.ones(len(xy), bool))]
    if known.any():
        panels.append(("coloured by true label", np.asarray(labels), known))
    for ax, (title, colours, mask) in zip(axes[0], panels):
        names = sorted(set(colours[mask].tolist()), key=str)
        cmap = plt.get_cmap("tab20", max(len(names), 1))
        for index, name in enumerate(names):
            chosen = mask & (colours == name)
            ax.scatter(xy[chosen, 0], xy[chosen, 1], s=6, color=cmap(index), label=str(name))
        ax.set_title(f"t-SNE, {title}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(markerscale=3, fontsize=7, ncol=2, loc="best")
    figure.tight_layout()
    return to_png(figure)


def training_curves_figure(log_rows: Sequence[Mapping[str, str]]) -> bytes:
    """Loss and accuracy per epoch from keras' CSV log."""
    figure, axes = plt.subplots(1, 2, figsize=(12, 4))
    epochs = [int(r["epoch"]) + 1 for r in log_rows]
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix in ("", "val_"):
            name = prefix + metric
            if log_rows and name in log_rows[0]:
                ax.plot(epochs, [float(r[name]) for r in log_rows], marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(metric)
        ax.legend()
    figure.tight_layout()
    return to_png(figure)


def background_figure(examples: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> bytes:
    """Rows of (raw photo, predicted mask, background removed) for a few images."""
    figure, axes = plt.subplots(len(examples), 3, figsize=(7.5, 2.5 * len(examples)),
                                squeeze=False)
    for row, (name, raw, mask, cleaned) in zip(axes, examples):
        for ax, image, title in zip(row, (raw, mask, cleaned), ("raw", "mask", "background removed")):
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
            ax.set_title(f"{title}: {name}" if title == "raw" else title, fontsize=8)
            ax.axis("off")
    figure.tight_layout()
    return to_png(figure)
