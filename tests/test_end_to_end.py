"""All stage scripts, in order, as a user runs them, on a tiny generated dataset."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")
STAGES = ["make_demo_dataset.py", "00_make_labels.py", "01_remove_background.py",
          "02_finetune.py", "03_extract_features.py", "04_cluster.py", "05_evaluate.py"]
TINY = {"DEMO_LABELED_PER_CLASS": "8", "DEMO_UNLABELED_PER_CLASS": "4", "DEMO_IMAGE_SIZE": "64",
        "IMAGE_SIZE": "75", "FT_EPOCHS": "1", "FT_BATCH_SIZE": "16", "EXTRACT_BATCH_SIZE": "32",
        "SOM_ROWS": "4", "SOM_COLS": "4", "SOM_EPOCHS": "5", "K_MAX": "8", "FEATURE_PCA": "16",
        "BG_WORKERS": "1"}


def run(script, work_dir, *args, check=True):
    env = {**os.environ, **TINY, "WORK_DIR": str(work_dir), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, str(ROOT / script), *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return result


def tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.mark.skipif(not FASHION.exists(), reason="needs apt package dataset-fashion-mnist")
def test_pipeline_end_to_end(tmp_path):
    work = tmp_path / "work"
    run(STAGES[0], work)
    raw_hash = tree_hash(work / "raw_img")
    outputs = {script: run(script, work).stdout for script in STAGES[1:]}
    assert tree_hash(work / "raw_img") == raw_hash, "raw images were modified"

    assert "mean mask IoU" in outputs["01_remove_background.py"]
    n_images = len((work / "img_paths.txt").read_text().splitlines())
    assert n_images == 8 * 5 + 4 * 10
    run_dir = work / "inception_v3"
    clusters = (run_dir / "clusters.csv").read_text().splitlines()
    assert len(clusters) == n_images + 1
    assert len((run_dir / "labels_pred.txt").read_text().splitlines()) == n_images
    board = (work / "leaderboard.csv").read_text().splitlines()
    assert len(board) == 1 + 4 and "pixels, PCA-50 + KMeans" in outputs["05_evaluate.py"]
    assert (run_dir / "report.png").stat().st_size > 10_000

    # finished stages are no-ops; --force redoes them with the same result (same seed)
    assert "already done" in run("04_cluster.py", work).stderr
    before = (run_dir / "clusters.csv").read_bytes()
    features_before = (run_dir / "features" / "features.npy").read_bytes()
    run("03_extract_features.py", work, "--force")
    assert (run_dir / "features" / "features.npy").read_bytes() == features_before
    run("04_cluster.py", work, "--force")
    assert (run_dir / "clusters.csv").read_bytes() == before

    # swapping the SOM grid is a config change, no code edit
    run("04_cluster.py", work, "--som-rows", "2", "--som-cols", "3")
    nodes = {int(line.split(",")[1]) for line in (run_dir / "clusters.csv").read_text().splitlines()[1:]}
    assert max(nodes) < 6 and "already done" not in run("05_evaluate.py", work, "--force").stderr


def test_every_script_has_help():
    for script in STAGES:
        result = subprocess.run([sys.executable, str(ROOT / script), "--help"], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "--force" in result.stdout, script


def test_invalid_config_is_one_clear_line(tmp_path):
    result = run("04_cluster.py", tmp_path, "--som-rows", "-3", check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: SOM_ROWS=-3 must be a positive integer"


def test_missing_inputs_name_the_previous_stage(tmp_path):
    result = run("04_cluster.py", tmp_path, check=False)
    assert result.returncode == 2 and "run 00_make_labels.py first" in result.stderr
