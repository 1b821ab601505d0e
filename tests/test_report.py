"""Stage 06 (HTML report, export), stage 07 / somclust.predict and the Python API."""
from __future__ import annotations

import csv
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from cluster.view_choice import view_choice_note
from common.stage import read_record
from helpers import TINY, run_script, run_somclust, tree_hash

def _clusters(run_dir: Path) -> dict[str, int]:
    with open(run_dir / "clusters.csv", newline="") as handle:
        return {r["file"]: int(r["cluster"]) for r in csv.DictReader(handle)}


def _model_clusters(run_dir: Path) -> dict[str, int]:
    """What the saved model predicts from the run's stored features: a new image's cluster. For
    the unlabeled images it is their cluster in clusters.csv (checked); a labeled image there is
    pinned to its class's cluster, which its features alone may not give."""
    from extract.features import clustered_feature_set, load_feature_set

    model = pickle.loads((run_dir / "clusters_model.pkl").read_bytes())
    feature_set = clustered_feature_set(read_record(run_dir, "04_cluster"))
    features, files = load_feature_set(run_dir / "features", feature_set)
    clusters = model["clusterer"].predict(model["preparer"].transform(features))
    predicted = dict(zip(files, clusters.tolist()))
    stored = _clusters(run_dir)
    assert all(predicted[f] == stored[f] for f in files if f.startswith("unlabeled/"))
    return predicted


def test_report_in_a_real_browser(tiny_run, browser):
    report = tiny_run.run_dir / "report" / "report.html"
    browser.get(report.resolve().as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])")
    n_clusters = len(set(_clusters(tiny_run.run_dir).values()))
    assert len(images) >= n_clusters + 5          # montages + SOM, embedding, confusion, k, bg
    assert all(complete and width > 0 for complete, width, _ in images), images
    for figure in ("som_maps", "embedding", "confusion", "k_curves", "training", "background"):
        assert (report.parent / f"{figure}.png").stat().st_size > 5_000

    marker = json.loads((tiny_run.run_dir / ".stages" / "05_evaluate.json").read_text())
    scores = browser.find_element("id", "scores").text
    for row in marker["summary"]["rows"]:
        assert f"{row['method']} {row['NMI']:.3f} {row['purity']:.3f} {row['ARI']:.3f}" in scores
    clustering = read_record(tiny_run.run_dir, "04_cluster")["summary"]["clusters"]
    assert view_choice_note(clustering) in scores             # FEATURE_SET=auto: the view kept
    board = browser.find_element("id", "leaderboard")
    first_nmi = board.find_elements("css selector", "tbody tr")[0].find_elements("tag name", "td")[3]
    with open(tiny_run.work / "leaderboard.csv", newline="") as handle:
        assert first_nmi.text == next(csv.DictReader(handle))["NMI"]

    # the leaderboard sorts by a clicked header (the page's only script)
    board.find_elements("tag name", "th")[3].click()
    nmis = [float(r.find_elements("tag name", "td")[3].text)
            for r in board.find_elements("css selector", "tbody tr")]
    assert nmis == sorted(nmis)
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_export_one_folder_per_cluster(tiny_run, tmp_path):
    destination = tmp_path / "by_cluster"
    result = run_script("06_report.py", tiny_run.work, "--export", str(destination))
    assert "exported 80 images" in result.stdout
    clusters = _clusters(tiny_run.run_dir)
    with open(destination / "clusters.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["file"]: int(r["cluster"]) for r in rows} == clusters
    for row in rows:
        copied = destination / row["exported"]
        assert copied.parent.name == f"cluster_{int(row['cluster']):02d}"
        assert copied.read_bytes() == (tiny_run.work / "raw_img" / row["file"]).read_bytes()
    assert tree_hash(tiny_run.work / "raw_img") == tiny_run.raw_hash

    again = run_script("06_report.py", tiny_run.work, "--export", str(destination), check=False)
    assert again.returncode == 2 and "not empty" in again.stderr and "--force" in again.stderr
    replaced = run_somclust("export", str(destination), "--force", work_dir=tiny_run.work)
    assert "exported 80 images" in replaced.stdout and (destination / "clusters.csv").exists()
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "mine.jpg").write_bytes(b"precious")
    foreign = run_script("06_report.py", tiny_run.work, "--export", str(tmp_path / "photos"),
                         "--force", check=False)
    assert foreign.returncode == 2 and "not a previous export" in foreign.stderr
    assert (tmp_path / "photos" / "mine.jpg").read_bytes() == b"precious"
    inside = run_script("06_report.py", tiny_run.work, "--export",
                        str(tiny_run.work / "raw_img" / "out"), check=False)
    assert inside.returncode == 2 and "overlaps RAW_DIR" in inside.stderr
    assert not (tiny_run.work / "raw_img" / "out").exists()


def test_predict_script_reproduces_the_run_clusters(tiny_run, tmp_path):
    raw = tiny_run.work / "raw_img"
    bad = tmp_path / "not_an_image.jpg"
    bad.write_text("hello")
    output = tmp_path / "predictions.csv"
    result = run_script("07_predict.py", tiny_run.work, str(raw / "bag"), str(raw / "unlabeled"),
                        str(bad), "--output", str(output))
    assert "predicted" in result.stdout and "skipped" in result.stderr
    new = tmp_path / "new"
    new.mkdir()
    shutil.copy(bad, new / "a.jpg")
    for folder, into in ((raw / "bag", raw / "p.csv"), (new, new / "sub" / "p.csv")):
        refused = run_script("07_predict.py", tiny_run.work, str(folder), "--output", str(into),
                             check=False)
        assert refused.returncode == 2 and "which is only read" in refused.stderr
        assert not into.exists()
    with open(output, newline="") as handle:
        rows = list(csv.DictReader(handle))
    clusters = _model_clusters(tiny_run.run_dir)
    predicted = {str(Path(r["path"]).relative_to(raw)): int(r["cluster"])
                 for r in rows if not r["error"]}
    assert len(predicted) == 8 + 40
    assert predicted == {f: clusters[f] for f in predicted}
    assert [r["cluster"] for r in rows if r["error"]] == ["-1"]

    nothing = run_script("07_predict.py", tiny_run.work, str(bad), check=False)
    assert nothing.returncode == 2 and "none of the given images" in nothing.stderr
    missing = run_script("07_predict.py", tiny_run.work, str(tmp_path / "nope.png"), check=False)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_python_api(tiny_run):
    import somclust
    from config import ConfigError

    settings = {**TINY, "WORK_DIR": str(tiny_run.work)}
    pipeline = somclust.Pipeline(**settings).run()          # every stage already done: no-ops
    assert pipeline.clusters() == _clusters(tiny_run.run_dir)
    assert pipeline.leaderboard()[0]["run"].startswith("efficientnet_lite0/")
    assert pipeline.report_path.exists()
    files = sorted(pipeline.clusters())[:6]
    predictions = somclust.predict([tiny_run.work / "raw_img" / f for f in files], **settings)
    expected = _model_clusters(tiny_run.run_dir)
    assert [p.cluster for p in predictions] == [expected[f] for f in files]
    with pytest.raises(ConfigError, match="SOM_ROWS"):
        somclust.Pipeline(SOM_ROWS=-1)


def test_predict_flags_images_unlike_the_run_as_novel(tiny_run, tmp_path):
    """The run's own images sit within their clusters (at most a few beyond the 99th
    percentile); out-of-domain images - text pages, a microscope slide, a star field - do not."""
    import cv2
    import skimage.data

    from somclust.prediction import ClusterPredictor

    folder = Path(skimage.data.__file__).parent
    strange = []
    for name in ("page.png", "text.png", "ihc.png", "hubble_deep_field.jpg", "moon.png",
                 "chessboard_GRAY.png", "brick.png", "grass.png"):
        image = cv2.imread(str(folder / name))
        strange.append(tmp_path / f"{Path(name).stem}.png")
        cv2.imwrite(str(strange[-1]), cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA))
    predictor = ClusterPredictor(tiny_run.work, tiny_run.run_dir, novelty_percentile=99.0)
    own = predictor.predict([tiny_run.work / "raw_img"])
    assert sum(p.novel for p in own) <= 0.05 * len(own)
    assert all(np.isfinite(p.distance) for p in own)
    outside = predictor.predict(strange)
    assert sum(p.novel for p in outside) >= len(outside) // 2, [p.distance for p in outside]
    never = ClusterPredictor(tiny_run.work, tiny_run.run_dir, novelty_percentile=0)
    assert not any(p.novel for p in never.predict(strange))


def test_report_without_the_raw_folder_says_so_once(tiny_run, tmp_path):
    """06_report run without the --raw-dir of the earlier stages: one line naming the folder and
    the fix, the report written without its background section."""
    import shutil

    work = tmp_path / "work"
    shutil.copytree(tiny_run.work, work, symlinks=True)
    gone = tmp_path / "moved_away"
    result = run_script("06_report.py", work, "--raw-dir", str(gone), "--force")
    assert result.stderr.count(str(gone)) == 1 and "--raw-dir" in result.stderr
    assert "no before/after" not in result.stderr
    page = (work / "efficientnet_lite0" / "report" / "report.html").read_text()
    assert 'id="training"' in page and 'id="background"' not in page
