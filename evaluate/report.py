"""Stage 06: one self-contained HTML report of a run, with its figures also saved as PNG.

Sections: this run's scores and the leaderboard, per-cluster montages, SOM U-matrix / hit map,
a t-SNE embedding, the confusion matrix, the k-prediction curves, fine-tuning curves and
background removal before/after. Every figure is embedded as a data URI, so the HTML file can be
mailed or opened anywhere.
"""
from __future__ import annotations

import base64
import html
import logging
import pickle
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from common.atomic_io import atomic_write_bytes, atomic_write_text, read_csv_rows
from common.errors import ImageReadError, SomclustError
from common.images import encode_png, read_mask, read_rgb
from common.stage import read_record
from cluster.som import umatrix
from cluster.view_choice import view_choice_note
from evaluate import figures
from evaluate.leaderboard import COLUMNS
from evaluate.montage import montage
from extract.features import clustered_feature_set, load_feature_set
from preprocess.labels import read_labels

LOG = logging.getLogger("somclust")
BACKGROUND_EXAMPLES = 4


@dataclass(frozen=True)
class RunPaths:
    """Where a run's inputs and outputs live."""

    work_dir: Path
    run_dir: Path
    raw_dir: Path
    img_dir: Path
    mask_dir: Path

    @classmethod
    def from_config(cls, config) -> "RunPaths":
        return cls(config.work_dir, config.run_dir, Path(config.RAW_DIR), Path(config.IMG_DIR),
                   Path(config.MASK_DIR))

    def stage_record(self, stage: str, part: str = "summary") -> dict:
        """The ``summary`` or ``fingerprint`` a finished stage of this run recorded."""
        return read_record(self.run_dir, stage).get(part, {})


def _figure_html(name: str, png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}" '
            f'data-file="{name}.png"><figcaption>{html.escape(caption)}</figcaption></figure>')


def _table(header: Sequence[str], rows: Sequence[Sequence], table_id: str,
           highlight: Sequence[bool] = ()) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    marked = ' class="this-run"'
    body = "".join(
        f"<tr{marked if i < len(highlight) and highlight[i] else ''}>"
        + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for i, row in enumerate(rows))
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _score_rows(rows: Sequence[dict]) -> list[list[str]]:
    return [[r["method"], f"{float(r['NMI']):.3f}", f"{float(r['purity']):.3f}",
             f"{float(r['ARI']):.3f}", f"{float(r['ACC']):.3f}", f"{r['k_pred']}/{r['k_true']}"]
            for r in rows]


class ReportBuilder:
    """Collects sections and figures; ``write`` saves the HTML and the PNGs."""

    def __init__(self, report_dir: Path):
        self.report_dir = report_dir
        self.sections: list[tuple[str, str, str]] = []
        self.pngs: dict[str, bytes] = {}

    def section(self, anchor: str, title: str, body: str) -> None:
        self.sections.append((anchor, title, body))

    def figure(self, name: str, png: bytes, caption: str) -> str:
        self.pngs[name] = png
        return _figure_html(name, png, caption)

    def write(self, title: str) -> Path:
        for name, png in self.pngs.items():
            atomic_write_bytes(self.report_dir / f"{name}.png", png)
        nav = " · ".join(f'<a href="#{a}">{html.escape(t)}</a>' for a, t, _ in self.sections)
        body = "".join(f'<section id="{a}"><h2>{html.escape(t)}</h2>{b}</section>'
                       for a, t, b in self.sections)
        page = PAGE.format(title=html.escape(title), nav=nav, body=body)
        return atomic_write_text(self.report_dir / "report.html", page)


def build_report(paths: RunPaths, report_dir: str | Path, title: str, sample: int = 2000,
                 per_cluster: int = 16, seed: int = 0) -> dict:
    """Write ``report_dir/report.html`` and its PNG figures; returns a summary."""
    report_dir = Path(report_dir)
    clusters_csv, model_pkl = paths.run_dir / "clusters.csv", paths.run_dir / "clusters_model.pkl"
    for needed in (clusters_csv, model_pkl):
        if not needed.exists():
            raise SomclustError(f"{needed} not found: run 04_cluster.py first")
    assigned = read_csv_rows(clusters_csv)
    files = [r["file"] for r in assigned]
    cluster_of = {r["file"]: int(r["cluster"]) for r in assigned}
    label_of = {i.file: i.label for i in read_labels(paths.work_dir)}
    model = pickle.loads(model_pkl.read_bytes())
    clusterer = model["clusterer"]
    rng = np.random.default_rng(seed)
    report = ReportBuilder(report_dir)

    _scores_section(report, paths)
    _clusters_section(report, paths, files, cluster_of, label_of, per_cluster, rng)
    _som_section(report, clusterer, [int(r["som_node"]) for r in assigned])
    _embedding_section(report, paths, model["preparer"], cluster_of, label_of, sample, seed)
    _criteria_section(report, paths, files, cluster_of, label_of, clusterer.n_clusters_)
    _training_section(report, paths)
    _background_section(report, paths, rng)
    html_path = report.write(title)
    return {"report": str(html_path), "figures": len(report.pngs),
            "clusters": len(set(cluster_of.values())), "images": len(files)}


def _scores_section(report: ReportBuilder, paths: RunPaths) -> None:
    evaluation = paths.stage_record("05_evaluate")
    this_run = evaluation.get("rows", [])
    body = ("<p>No true labels: nothing to score (run 05_evaluate.py when labels exist).</p>"
            if not this_run else
            _table(("method", "NMI", "purity", "ARI", "ACC", "k predicted/true"),
                   _score_rows(this_run), "scores"))
    board_csv = paths.work_dir / "leaderboard.csv"
    if board_csv.exists():
        board = read_csv_rows(board_csv)
        runs = {r["run"] for r in this_run}
        body += "<h3>Leaderboard (every run in this work folder; click a header to sort)</h3>"
        body += _table(("#", *COLUMNS), [[i, *(r[c] for c in COLUMNS)]
                                         for i, r in enumerate(board, start=1)],
                       "leaderboard", [r["run"] in runs for r in board])
    clustering = paths.stage_record("04_cluster").get("clusters", {})
    if clustering:
        choice = (f" {html.escape(view_choice_note(clustering))}."
                  if "view_modularity" in clustering else "")
        body = (f"<p>{clustering['images']} images in <b>{clustering['n_clusters']} clusters</b> "
                "(k: the grouping with the highest modularity on the images' nearest-neighbour "
                f"graph).{choice}</p>") + body
    report.section("scores", "Scores", body)


def _clusters_section(report: ReportBuilder, paths: RunPaths, files: list[str],
                      cluster_of: dict[str, int], label_of: dict[str, str], per_cluster: int,
                      rng: np.random.Generator) -> None:
    image_of = {r["file"]: paths.img_dir / r["img"]
                for r in read_csv_rows(paths.work_dir / "processed.csv")}
    parts = []
    for cluster in sorted(set(cluster_of.values())):
        members = [f for f in files if cluster_of[f] == cluster]
        shown = sorted(rng.choice(len(members), min(per_cluster, len(members)), replace=False))
        chosen = [members[i] for i in shown]
        sheet = montage([image_of.get(f, paths.raw_dir / f) for f in chosen],
                        [label_of.get(f) or "?" for f in chosen])
        counts = Counter(label_of.get(f) or "unknown" for f in members)
        mix = ", ".join(f"{label} {n}" for label, n in counts.most_common(4))
        caption = f"cluster {cluster}: {len(members)} images (true labels: {mix})"
        parts.append(report.figure(f"cluster_{cluster:02d}", encode_png(sheet), caption))
    report.section("clusters", "Clusters (a sample of members, captioned with the true label, "
                   "? = unknown)", "".join(parts))


def _som_section(report: ReportBuilder, clusterer, nodes: list[int]) -> None:
    rows, cols = clusterer.n_rows, clusterer.n_cols
    hits = np.bincount(nodes, minlength=rows * cols).reshape(rows, cols)
    png = figures.som_maps_figure(umatrix(clusterer.som_.weights_, rows, cols), hits,
                                  clusterer.unit_clusters_.reshape(rows, cols))
    report.section("som", f"Self-Organizing Map ({rows} x {cols})",
                   report.figure("som_maps", png, "U-matrix, hit map and cluster of each unit"))


def _embedding_section(report: ReportBuilder, paths: RunPaths, preparer, cluster_of: dict,
                       label_of: dict, sample: int, seed: int) -> None:
    from sklearn.manifold import TSNE

    features, files = load_feature_set(paths.run_dir / "features", clustered_feature_set(
        read_record(paths.run_dir, "04_cluster")))
    keep = [i for i, f in enumerate(files) if f in cluster_of]
    if len(keep) > sample:
        keep = sorted(np.random.default_rng(seed).choice(keep, sample, replace=False))
    if len(keep) < 5:
        return
    prepared = preparer.transform(features[keep])
    if len(np.unique(prepared.round(5), axis=0)) < 5:    # t-SNE needs distinct points
        report.section("embedding", "2-D embedding",
                       "<p>Fewer than 5 distinct feature vectors: no embedding to draw.</p>")
        return
    perplexity = float(min(30.0, (len(keep) - 1) / 3))
    xy = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(prepared)
    chosen = [files[i] for i in keep]
    png = figures.embedding_figure(xy, [cluster_of[f] for f in chosen],
                                   [label_of.get(f, "") for f in chosen])
    report.section("embedding", "2-D embedding",
                   report.figure("embedding", png, f"t-SNE of {len(keep)} images' features"))


def _criteria_section(report: ReportBuilder, paths: RunPaths, files: list[str],
                      cluster_of: dict, label_of: dict, chosen_k: int) -> None:
    parts = []
    labeled = [f for f in files if label_of.get(f)]
    if len(labeled) > 1:
        png = figures.confusion_figure([label_of[f] for f in labeled],
                                       [cluster_of[f] for f in labeled])
        parts.append(report.figure("confusion", png, "true class vs cluster"))
    scores_csv = paths.run_dir / "clusters_k_scores.csv"
    if scores_csv.exists():
        png = figures.k_curves_figure(read_csv_rows(scores_csv), chosen_k)
        parts.append(report.figure("k_curves", png, "modularity of each k's grouping"))
    report.section("criteria", "Confusion matrix and cluster-count criteria", "".join(parts))


def _training_section(report: ReportBuilder, paths: RunPaths) -> None:
    log_csv = paths.run_dir / "model" / "training_log.csv"
    rows = read_csv_rows(log_csv) if log_csv.exists() else []
    body = (report.figure("training", figures.training_curves_figure(rows), "fine-tuning curves")
            if rows else "<p>No fine-tuning log (FT_EPOCHS=0 or 02_finetune.py not run).</p>")
    report.section("training", "Fine-tuning", body)


def _background_section(report: ReportBuilder, paths: RunPaths, rng: np.random.Generator) -> None:
    if not paths.raw_dir.is_dir():
        LOG.warning("report: no background removal section: the raw images' folder %s is not "
                    "there (pass the --raw-dir the earlier stages ran with)", paths.raw_dir)
        return
    processed = read_csv_rows(paths.work_dir / "processed.csv")
    chosen = [processed[i] for i in sorted(rng.choice(len(processed),
                                                      min(BACKGROUND_EXAMPLES, len(processed)),
                                                      replace=False))]
    recorded = read_record(paths.work_dir, "01_remove_background").get("fingerprint", {})
    max_side = int(recorded.get("WORK_MAX_SIDE", 0))      # the size stage 01 worked at
    examples = []
    for row in chosen:
        try:
            examples.append((Path(row["file"]).name,
                             read_rgb(paths.raw_dir / row["file"], max_side),
                             read_mask(paths.mask_dir / row["mask"]),
                             read_rgb(paths.img_dir / row["img"])))
        except ImageReadError as error:
            LOG.warning("report: no before/after for %s: %s", row["file"], error)
    if examples:
        report.section("background", "Background removal",
                       report.figure("background", figures.background_figure(examples),
                                     "raw photo, predicted mask, background removed"))


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }}
nav {{ margin-bottom: 1em; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
th {{ background: #f0f0f0; cursor: pointer; }}
tr.this-run {{ font-weight: bold; background: #fff6d5; }}
figure {{ display: inline-block; margin: 0.5em; vertical-align: top; }}
figure img {{ max-width: 100%; }}
figcaption {{ font-size: 0.85em; color: #555; }}
</style></head>
<body><h1>{title}</h1><nav>{nav}</nav>{body}
<script>
document.querySelectorAll("table").forEach(function (table) {{
  table.querySelectorAll("th").forEach(function (header, column) {{
    header.addEventListener("click", function () {{
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var ascending = header.dataset.order !== "asc";
      header.dataset.order = ascending ? "asc" : "desc";
      rows.sort(function (a, b) {{
        var x = a.cells[column].textContent, y = b.cells[column].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return ascending ? order : -order;
      }});
      rows.forEach(function (row) {{ body.appendChild(row); }});
    }});
  }});
}});
</script></body></html>
"""
