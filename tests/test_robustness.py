"""Bad inputs through every stage, SIGKILL at any point then re-run, and determinism."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from bad_corpus import make_corpus
from helpers import ROOT, STAGES, run_script, script_env, tree_hash

LITE = {"BACKBONE": "efficientnet_lite0", "WEIGHTS": "none"}   # builds and traces fastest


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_bad_input_corpus_through_every_stage(tmp_path):
    work, export = tmp_path / "work", tmp_path / "export"
    raw = work / "raw_img"
    corpus = make_corpus(raw)
    assert len(corpus.kinds) >= 20, corpus.kinds
    raw_hash = tree_hash(raw)
    for script in STAGES[1:]:
        run_script(script, work, *(["--export", str(export)] if script == "06_report.py" else []),
                   **LITE)
    assert tree_hash(raw) == raw_hash, "raw_img changed"

    skipped = {r["file"]: r["reason"] for r in _rows(work / "skipped.csv")}
    assert set(skipped) == set(corpus.skipped)
    for file, reason in corpus.skipped.items():
        assert reason in skipped[file], (file, skipped[file])
    lines = {name: (work / name).read_text(encoding="utf-8").splitlines()
             for name in ("img_paths.txt", "labels_true.txt")}
    lines["labels_pred.txt"] = (work / "efficientnet_lite0" / "labels_pred.txt").read_text(
        encoding="utf-8").splitlines()
    assert {len(v) for v in lines.values()} == {len(_rows(work / "labels_true.csv"))}, \
        {k: len(v) for k, v in lines.items()}      # one line per image, whatever the names
    clustered = {r["file"] for r in _rows(work / "efficientnet_lite0" / "clusters.csv")}
    assert clustered == corpus.usable
    assert {r["file"] for r in _rows(export / "clusters.csv")} == corpus.usable
    assert (export / "cluster_00").is_dir()

    predicted = run_script("07_predict.py", work, str(raw), "--output", str(tmp_path / "p.csv"),
                           **LITE)
    rows = _rows(tmp_path / "p.csv")
    usable = {str(Path(r["path"]).relative_to(raw)) for r in rows if not r["error"]}
    assert usable == corpus.usable and "predicted" in predicted.stdout

    bad_layer = run_script("03_extract_features.py", work, "--feature-layer", "nope", check=False,
                           **LITE)
    assert bad_layer.returncode == 2 and "FEATURE_LAYER='nope' is not a layer" in bad_layer.stderr
    assert tree_hash(raw) == raw_hash


def test_nothing_usable_is_an_error_naming_the_log(tmp_path):
    raw = tmp_path / "work" / "raw_img"
    raw.mkdir(parents=True)
    (raw / "a.jpg").write_text("text")
    (raw / "b.png").write_bytes(b"")
    run_script("00_make_labels.py", tmp_path / "work")
    result = run_script("01_remove_background.py", tmp_path / "work", check=False)
    assert result.returncode == 2
    assert "none of the 2 images" in result.stderr and "skipped.csv" in result.stderr

    empty = tmp_path / "empty" / "raw_img"
    empty.mkdir(parents=True)
    result = run_script("00_make_labels.py", tmp_path / "empty", check=False)
    assert result.returncode == 2 and "no images" in result.stderr


def test_labels_csv_problems(tmp_path):
    work = tmp_path / "work"
    make_corpus(work / "raw_img")
    labels = work / "labels.csv"
    labels.write_text("file,label\nunlabeled/circle_6.png,circle\nunlabeled/circle_6.png,circle\n"
                      "unlabeled/missing.png,circle\nunlabeled/square_6.png,hexagon\n,\n")
    result = run_script("00_make_labels.py", work, "--labels-csv", str(labels))
    assert "hexagon" in (work / "labels_true.csv").read_text()
    skipped = {r["file"]: r["reason"] for r in _rows(work / "skipped.csv")}
    assert "not found in RAW_DIR" in skipped["unlabeled/missing.png"]
    assert any("row without a file or label" in reason for reason in skipped.values())
    assert result.returncode == 0

    labels.write_text("file,label\nunlabeled/circle_6.png,circle\nunlabeled/circle_6.png,square\n")
    result = run_script("00_make_labels.py", work, "--labels-csv", str(labels), check=False)
    assert result.returncode == 2 and "two labels" in result.stderr and "circle_6" in result.stderr


def test_all_images_identical(tmp_path):
    work = tmp_path / "work"
    make_corpus(tmp_path / "source")
    same = (tmp_path / "source" / "circle" / "circle_0.png").read_bytes()
    for file in ("a/1.png", "a/2.png", "a/3.png", "b/1.png", "b/2.png", "b/3.png",
                 "unlabeled/1.png", "unlabeled/2.png"):
        (work / "raw_img" / file).parent.mkdir(parents=True, exist_ok=True)
        (work / "raw_img" / file).write_bytes(same)
    for script in STAGES[1:]:
        run_script(script, work, FT_EPOCHS="0", **LITE)
    clusters = {r["cluster"] for r in _rows(work / "efficientnet_lite0" / "clusters.csv")}
    assert len(clusters) == 1


@pytest.mark.parametrize("script, flags, message", [
    ("04_cluster.py", ["--som-rows", "-2"], "SOM_ROWS=-2 must be a positive integer"),
    ("04_cluster.py", ["--k-min", "9", "--k-max", "3"], "K_MIN=9 is larger than K_MAX=3"),
    ("04_cluster.py", ["--seed", "abc"], "SEED='abc' is not a valid int"),
    ("04_cluster.py", ["--feature-set", "all"], "FEATURE_SET='all' is not allowed; choose one of"),
    ("02_finetune.py", ["--backbone", "resnet"],
     "BACKBONE='resnet' is not allowed; choose one of: inception_v3, efficientnet_lite0"),
    ("02_finetune.py", ["--weights", "/no/such/weights.h5"], "WEIGHTS='/no/such/weights.h5': no such file"),
    ("01_remove_background.py", ["--work-max-side", "64"],
     "WORK_MAX_SIDE=64 is below IMAGE_SIZE=75: the network would see enlarged images"),
])
def test_invalid_config_is_rejected_at_start(tmp_path, script, flags, message):
    result = run_script(script, tmp_path, *flags, check=False)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not list(tmp_path.iterdir())


def _kill_when(script: str, work: Path, ready: Callable[[], bool]) -> None:
    """Start ``script`` and SIGKILL it as soon as ``ready()``; it must still be running then."""
    process = subprocess.Popen([sys.executable, str(ROOT / script)], cwd=ROOT,
                               env=script_env(work), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while process.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, f"{script} ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL


def _progress(path: Path) -> int:
    try:
        return json.loads(path.read_text())["batches_done"]
    except (OSError, ValueError, KeyError):
        return 0


def _weights(model_path: Path) -> list[np.ndarray]:
    import keras

    return [np.asarray(w) for w in keras.models.load_model(model_path).get_weights()]


def test_killed_stages_resume_to_the_uninterrupted_result(tiny_run, tmp_path):
    """Every stage SIGKILLed midway then re-run gives the fixture's uninterrupted run, byte for
    byte (same settings: FT_EPOCHS=2 and 10 extraction batches leave room to kill)."""
    killed, reference_run = tmp_path / "killed", tiny_run.run_dir
    shutil.copytree(tiny_run.work / "raw_img", killed / "raw_img")
    shutil.copy(tiny_run.work / "raw_labels.csv", killed / "raw_labels.csv")
    run_script("00_make_labels.py", killed)
    run_dir = killed / "efficientnet_lite0"

    _kill_when("01_remove_background.py", killed,
               lambda: len(list((killed / "masks").rglob("*.png"))) >= 20)
    run_script("01_remove_background.py", killed)
    _kill_when("02_finetune.py", killed,            # in the draft round (SELF_TRAIN_SHARE)
               lambda: (run_dir / "draft" / "model" / "state.json").exists())
    resumed = run_script("02_finetune.py", killed)
    assert "resuming fine-tuning after epoch 1" in resumed.stderr
    progress = run_dir / "features" / ".features+features_pretrained.progress.json"
    _kill_when("03_extract_features.py", killed, lambda: _progress(progress) >= 3)
    run_script("03_extract_features.py", killed)
    _kill_when("04_cluster.py", killed, lambda: (run_dir / "clusters.csv").exists())
    run_script("04_cluster.py", killed)
    run_script("05_evaluate.py", killed)

    for folder in ("img", "masks"):
        assert tree_hash(killed / folder) == tree_hash(tiny_run.work / folder)
    for model in ("draft/model/finetuned.keras",        # the round the kill came in
                  "model/finetuned.keras"):
        for a, b in zip(_weights(reference_run / model), _weights(run_dir / model)):
            np.testing.assert_array_equal(a, b)
    for name in ("features.npy", "features_pretrained.npy"):
        assert (run_dir / "features" / name).read_bytes() == \
            (reference_run / "features" / name).read_bytes()
    assert (run_dir / "clusters.csv").read_bytes() == (reference_run / "clusters.csv").read_bytes()
    model = run_dir / "model" / "finetuned.keras"
    signature = (model.stat().st_size, model.stat().st_mtime_ns)
    os.utime(killed / "labels_true.csv")       # 02 re-runs, its fine-tuning already finished
    assert "resuming fine-tuning after epoch 2" in run_script("02_finetune.py", killed).stderr
    assert (model.stat().st_size, model.stat().st_mtime_ns) == signature   # features still valid
    scores = [json.loads((d / ".stages" / "05_evaluate.json").read_text())["summary"]["rows"]
              for d in (reference_run, run_dir)]
    for row in scores:
        for r in row:
            r.pop("date")
    assert scores[0] == scores[1]
