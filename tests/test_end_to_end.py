"""All stage scripts, in order, as a user runs them, on a tiny generated dataset."""
from __future__ import annotations

import csv
import re
import subprocess
import sys

from helpers import ROOT, STAGES, run_script, run_somclust, script_env, tree_hash
from cluster.view_choice import view_choice_note
from common.stage import read_record
from config import SELF_TRAIN_SHARE
from evaluate.run import main_method
from extract.features import FEATURE_SET_NAMES
from extract.runtime import precision_on
from somclust.self_training import self_training_note


def test_pipeline_end_to_end(tiny_run):
    work, run_dir, outputs = tiny_run.work, tiny_run.run_dir, tiny_run.outputs
    assert tree_hash(work / "raw_img") == tiny_run.raw_hash, "raw images were modified"
    assert "mean mask IoU" in outputs["01_remove_background.py"]
    fine_tuning = tiny_run.logs["02_finetune.py"]
    assert "classifier head to the frozen network's features of 35 training images" in fine_tuning
    assert re.search(r"^epoch 1/2: accuracy [0-9.]+, loss [0-9.]+, val_accuracy", fine_tuning, re.M)
    n_images = len((work / "img_paths.txt").read_text().splitlines())
    assert n_images == 8 * 5 + 4 * 10
    drafted = read_record(run_dir, "02_finetune")["summary"]["self_training"]  # SELF_TRAIN_SHARE
    assert (run_dir / "draft" / "model" / "finetuned.keras").is_file()
    assert self_training_note(drafted, SELF_TRAIN_SHARE) in outputs["02_finetune.py"]
    # the draft's un-fine-tuned features are stage 03's: reused there, not extracted again
    assert f"features_pretrained: {n_images} images x 1280 dims (0 extracted, {n_images} reused" \
        in outputs["03_extract_features.py"]
    if drafted["new_classes"]:        # the run's network learned the draft's new classes too
        classes = (run_dir / "model" / "classes.json").read_text()
        assert classes.count("(new cluster") == drafted["new_classes"]
    # FEATURE_SET=auto: both views clustered, the one of the higher modularity kept, and said so
    part = read_record(run_dir, "04_cluster")["summary"]["clusters"]
    assert set(part["view_modularity"]) == {"finetuned", "pretrained"}
    assert part["feature_set"] == max(part["view_modularity"], key=part["view_modularity"].get)
    assert view_choice_note(part) in outputs["04_cluster.py"]
    baseline_line = ("clusters_pretrained: the same clustering" if part["feature_set"] == "pretrained"
                     else f"clusters_pretrained: {n_images} images (pretrained features)")
    assert baseline_line in outputs["04_cluster.py"]
    assert re.search(rf"^{re.escape(main_method(read_record(run_dir, '04_cluster')))} ",
                     outputs["05_evaluate.py"], re.M)
    assert main_method(read_record(run_dir, "04_cluster")).startswith(
        f"auto: {FEATURE_SET_NAMES[part['feature_set']]} + SOM")
    clusters = (run_dir / "clusters.csv").read_text().splitlines()
    assert len(clusters) == n_images + 1
    assert len((run_dir / "labels_pred.txt").read_text().splitlines()) == n_images
    with open(work / "leaderboard.csv", newline="") as handle:
        board = list(csv.DictReader(handle))
    assert len(board) == 5 and "pixels, PCA-50 + KMeans" in outputs["05_evaluate.py"]
    unseen = [r for r in board if r["method"].endswith("(images not used for training)")]
    assert len(unseen) == 1 and int(unseen[0]["images"]) == 4 * 10     # the unlabeled images
    assert (run_dir / "report.png").stat().st_size > 10_000
    assert (run_dir / "report" / "report.html").exists()
    extraction = read_record(run_dir, "03_extract_features")["summary"]   # the default runtime
    assert {part["runtime"] for part in extraction.values()} == {"openvino"}
    assert all((run_dir / part["openvino_model"]).is_file() for part in extraction.values())
    native = precision_on("openvino", "auto")          # bfloat16 where the CPU has it natively
    assert {part["precision"] for part in extraction.values()} == {native}
    assert f"openvino, {native})" in outputs["03_extract_features.py"]


def test_rerun_is_noop_and_force_reproduces(tiny_run):
    work, run_dir = tiny_run.work, tiny_run.run_dir
    assert "already done" in run_script("04_cluster.py", work).stderr
    before = (run_dir / "clusters.csv").read_bytes()
    features_before = (run_dir / "features" / "features.npy").read_bytes()
    run_script("03_extract_features.py", work, "--force")
    assert (run_dir / "features" / "features.npy").read_bytes() == features_before
    run_script("04_cluster.py", work, "--force")
    assert (run_dir / "clusters.csv").read_bytes() == before

    # swapping the SOM grid is a config change, no code edit
    run_script("04_cluster.py", work, "--som-rows", "2", "--som-cols", "3")
    nodes = {int(line.split(",")[1])
             for line in (run_dir / "clusters.csv").read_text().splitlines()[1:]}
    assert max(nodes) < 6 and "already done" not in run_script("05_evaluate.py", work).stderr
    # fitted on 3 labeled images per class (of 8): every image still gets a cluster
    run_script("04_cluster.py", work, "--cluster-labeled-per-class", "3")
    files = [line.split(",")[0] for line in before.decode().splitlines()]
    capped = (run_dir / "clusters.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in capped] == files and capped != before.decode().splitlines()
    # another feature set is a config change: that view alone, no choice to report
    single = run_script("04_cluster.py", work, "--feature-set", "pretrained").stdout
    part = read_record(run_dir, "04_cluster")["summary"]["clusters"]
    assert part["feature_set"] == "pretrained" and "view_modularity" not in part
    assert "FEATURE_SET=auto" not in single
    run_script("04_cluster.py", work)          # back to the fixture's defaults, same clusters
    assert (run_dir / "clusters.csv").read_bytes() == before
    run_script("05_evaluate.py", work)
    run_script("06_report.py", work)           # the fixture finished again, every stage


def test_every_script_has_help():
    for script in [*STAGES, "07_predict.py"]:
        result = subprocess.run([sys.executable, str(ROOT / script), "--help"], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "--seed" in result.stdout, script


def test_invalid_config_is_one_clear_line(tmp_path):
    result = run_script("04_cluster.py", tmp_path, "--som-rows", "-3", check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: SOM_ROWS=-3 must be a positive integer"


def test_missing_inputs_name_the_previous_stage(tmp_path):
    result = run_script("04_cluster.py", tmp_path, check=False)
    assert result.returncode == 2 and "run 00_make_labels.py first" in result.stderr


def test_flat_folder_without_labels_runs_every_stage(tiny_run, tmp_path):
    """No class folders, no CSV: 02 self-trains - the pretrained network is the draft, the run's
    network is fine-tuned on its clusters' cores alone (one line says so) - and the rest
    clusters with it, the un-fine-tuned pipeline beside it."""
    import shutil

    raw = tmp_path / "photos"
    raw.mkdir()
    for i, path in enumerate(sorted((tiny_run.work / "raw_img").rglob("*.png"))[:30]):
        shutil.copy(path, raw / f"photo_{i:02d}.png")
    work = tmp_path / "work"
    outputs = {script: run_script(script, work, RAW_DIR=str(raw)) for script in STAGES[1:6]}
    assert "none with a label" in outputs["00_make_labels.py"].stdout
    finetuned = outputs["02_finetune.py"]
    assert "self-training without labels" in finetuned.stdout, finetuned.stdout
    assert "not fine-tuning" not in finetuned.stderr      # the draft is no fine-tuning to warn of
    assert not any("oneDNN" in result.stderr for result in outputs.values())   # no TF chatter
    clusters = (work / "efficientnet_lite0" / "clusters.csv").read_text().splitlines()
    assert len(clusters) == 31
    run_dir = work / "efficientnet_lite0"
    features, draft = run_dir / "features", run_dir / "draft" / "features"
    assert (features / "features.npy").read_bytes() != \
        (features / "features_pretrained.npy").read_bytes()
    assert (features / "features_pretrained.npy").read_bytes() == \
        (draft / "features_pretrained.npy").read_bytes()        # the draft's, reused
    assert "(highest modularity)" in outputs["04_cluster.py"].stdout
    assert (run_dir / "clusters_pretrained.csv").exists()      # the un-fine-tuned baseline
    scores = run_script("05_evaluate.py", work, RAW_DIR=str(raw))
    assert "no true labels: nothing to score" in scores.stderr and "NMI" not in scores.stdout


def test_a_stage_whose_outputs_were_deleted_runs_again(tiny_run, tmp_path):
    import shutil

    work = tmp_path / "work"
    shutil.copytree(tiny_run.work, work, symlinks=True)
    run_dir = work / "efficientnet_lite0"
    run_script("03_extract_features.py", work)      # another folder: reuses every row
    run_script("04_cluster.py", work)
    assert "already done" in run_script("03_extract_features.py", work).stderr
    shutil.rmtree(run_dir / "features")
    again = run_script("03_extract_features.py", work)
    assert "80 extracted" in again.stdout and "was deleted or changed" in again.stderr
    before = (run_dir / "clusters.csv").read_bytes()
    (run_dir / "clusters.csv").unlink()
    run_script("04_cluster.py", work)
    assert (run_dir / "clusters.csv").read_bytes() == before


def test_own_photos_command_leaves_a_foreign_folder_byte_identical(tiny_run, tmp_path):
    """The README's own-photos command (`make cluster RAW_DIR=...`) on a folder of someone's
    images: every stage runs, nothing is written into it; `somclust export` given only the work
    folder copies its images out (and refuses a folder inside it); the demo builder refuses it."""
    import shutil

    photos = tmp_path / "photos" / "holiday"
    photos.mkdir(parents=True)
    for i, path in enumerate(sorted((tiny_run.work / "raw_img").rglob("*.png"))[:24]):
        shutil.copy(path, photos / f"IMG_{i:04d}.png")
    before = tree_hash(photos.parent)
    env = {**script_env(tmp_path / "work"), "PYTHON": sys.executable}
    made = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "cluster",
                           f"RAW_DIR={photos.parent}", f"WORK_DIR={tmp_path / 'work'}"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert made.returncode == 0, made.stdout + made.stderr
    clustered = (tmp_path / "work" / "efficientnet_lite0" / "clusters.csv").read_text()
    exported = run_somclust("export", str(tmp_path / "by_cluster"), work_dir=tmp_path / "work")
    assert f"exported {len(clustered.splitlines()) - 1} images" in exported.stdout
    inside = run_somclust("export", str(photos / "out"), work_dir=tmp_path / "work", check=False)
    assert inside.returncode == 2 and "overlaps RAW_DIR" in inside.stderr
    refused = run_script("make_demo_dataset.py", tmp_path / "work2", check=False,
                         RAW_DIR=str(photos.parent))
    assert refused.returncode == 2 and "did not write" in refused.stderr
    assert tree_hash(photos.parent) == before
