"""Stage 02's self-training round: which draft clusters become classes, and on which images."""
from __future__ import annotations

import numpy as np
import pytest

from config import load_config
from somclust.self_training import class_names, new_cluster_cores, self_training_note
from somclust.stages import cluster_features, extract_features
from somclust.stages.fine_tune import DRAFT_KEYS, KEYS, self_training_keys


def unit_rows(rng: np.random.Generator, centre: np.ndarray, n: int, spread: float) -> np.ndarray:
    rows = centre + spread * rng.standard_normal((n, len(centre)))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_only_clusters_of_no_known_class_become_classes_with_their_core_nearest_first():
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8)
    features = np.vstack([unit_rows(rng, c, 10, 0.1) for c in centres])
    clusters = np.repeat([0, 1, 2], 10)
    known = np.full(30, -1)
    known[3] = 0                                         # cluster 0 holds class 0's label
    cores = new_cluster_cores(features, clusters, known, share=0.5)
    assert sorted(cores) == [1, 2]
    for cluster, rows in cores.items():
        members = np.flatnonzero(clusters == cluster)
        assert len(rows) == 5 and set(rows) <= set(members)
        closeness = features[rows] @ features[members].mean(axis=0)
        assert np.all(np.diff(closeness) <= 0)           # nearest the centre first
        others = np.setdiff1d(members, rows)
        assert closeness.min() >= (features[others] @ features[members].mean(axis=0)).max()


def test_labeled_strays_do_not_make_a_cluster_known_nor_join_its_core():
    # thousands of labels a class: a few left-out labeled images land in a new class's cluster
    rng = np.random.default_rng(2)
    features = np.vstack([unit_rows(rng, c, 20, 0.1) for c in np.eye(3, 8)])
    clusters = np.repeat([0, 1, 2], 20)
    known = np.full(60, -1)
    known[:15], known[20:35] = 0, 1                      # classes 0 and 1: clusters 0 and 1
    known[[41, 42]] = 0                                  # two strays of class 0 in cluster 2
    cores = new_cluster_cores(features, clusters, known, share=1.0)
    assert list(cores) == [2]
    assert set(cores[2]) == set(range(40, 60)) - {41, 42}


def test_an_outlier_of_a_new_cluster_is_not_in_its_core():
    rng = np.random.default_rng(1)
    features = unit_rows(rng, np.eye(1, 8)[0], 9, 0.05)
    features = np.vstack([features, np.eye(8)[5]])       # far from the others
    cores = new_cluster_cores(features, np.zeros(10, int), np.full(10, -1), share=0.9)
    assert 9 not in cores[0] and len(cores[0]) == 9


def test_small_clusters_are_skipped_and_a_core_has_at_least_two_images():
    features = np.tile(np.eye(1, 4), (7, 1))
    clusters = np.array([0, 0, 0, 1, 1, 1, 1])
    cores = new_cluster_cores(features, clusters, np.full(7, -1), share=0.1)
    assert list(cores) == [1] and len(cores[1]) == 2    # 3 images: too few; 4: 2 at least


def test_invalid_inputs_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        new_cluster_cores(np.zeros((3, 2)), np.zeros(2), np.full(3, -1), 0.5)
    with pytest.raises(ValueError, match="share"):
        new_cluster_cores(np.zeros((3, 2)), np.zeros(3), np.full(3, -1), 0.0)


def test_new_class_names_never_take_a_labeled_class_name():
    names = class_names([2, 5], {"(new cluster 2)", "shoe"})
    assert names[5] == "(new cluster 5)"
    assert names[2] not in {"(new cluster 2)", "shoe"}
    assert len(set(names.values())) == 2


def test_the_draft_rounds_settings_are_fingerprinted_only_when_it_runs():
    assert self_training_keys(load_config({"SELF_TRAIN_SHARE": "0"})) == ("SELF_TRAIN_SHARE",)
    keys = set(KEYS) | set(self_training_keys(load_config({"SELF_TRAIN_SHARE": "0.5"})))
    # every key of stage 03 and stage 04 (the draft round runs both) re-runs stage 02, but
    # the SOM draws stage 04 keeps the best of: the draft clusters once
    assert set(extract_features.KEYS) | set(cluster_features.KEYS) <= keys | {"CLUSTER_RESTARTS"}
    assert "CLUSTER_RESTARTS" not in keys and "CLUSTER_RESTARTS" in cluster_features.KEYS
    assert not set(DRAFT_KEYS) & set(KEYS)


def test_stage_02_says_what_the_draft_round_did():
    text = self_training_note({"draft_clusters": 9, "new_classes": 4, "images": 210}, 0.5)
    assert "4 of the draft's 9 clusters are no known class's" in text and "210" in text and "50%" in text
    text = self_training_note({"draft_clusters": 5, "new_classes": 0, "images": 0}, 0.5)
    assert "each of the draft clustering's 5 clusters is a known class's" in text


@pytest.mark.parametrize("unlabeled", [0, 1])
def test_one_round_where_no_new_class_could_be_found(tmp_path, monkeypatch, unlabeled):
    """Every image trained on, or too few images to cluster: stage 02 fine-tunes once, into the
    run's model folder, and makes no draft."""
    from pathlib import Path
    from types import SimpleNamespace

    import finetune.train
    from common.run_index import ImageRecord
    from somclust.self_training import fine_tune_run

    calls = []
    monkeypatch.setattr(finetune.train, "fine_tune",
                        lambda paths, labels, model_dir, settings, **_:
                        calls.append((list(labels), Path(model_dir))) or {"epochs_done": 1})
    config = load_config({"RUN_DIR": str(tmp_path / "run"), "SELF_TRAIN_SHARE": "0.5"})
    labeled = [ImageRecord(f"{c}.png", tmp_path / f"{c}.png", c, True) for c in "ab"]
    records = labeled + [ImageRecord(f"u{i}.png", tmp_path / f"u{i}.png", "", False)
                         for i in range(unlabeled)]
    summary = fine_tune_run(config, SimpleNamespace(epochs=4), records, labeled)
    assert calls == [(["a", "b"], tmp_path / "run" / "model")]
    assert "self_training" not in summary and not (tmp_path / "run" / "draft").exists()


NEW_0, NEW_1 = "(new cluster 0)", "(new cluster 1)"


@pytest.mark.parametrize("known, pseudo, rounds, line", [
    # no labels: the pretrained network is the draft, its clusters' cores the only classes
    ("", {"u0.png": NEW_0, "u3.png": NEW_1},
     [("kept", "draft"), ([NEW_0, NEW_1], "run")], "self-training without labels: the pretrained"),
    # no labels, and one draft cluster big enough: one class, nothing to fine-tune on
    ("", {"u0.png": NEW_0, "u1.png": NEW_0},
     [("kept", "draft"), "draft kept"], "give fewer than 2 classes"),
    # labels of two classes and no new cluster: the draft network is the run's, no second round
    ("ab", {}, [(["a", "b"], "draft"), "draft kept"], "is a known class's"),
])
def test_the_rounds_stage_02_runs(tmp_path, monkeypatch, known, pseudo, rounds, line):
    from pathlib import Path
    from types import SimpleNamespace

    import finetune.train
    import somclust.self_training as self_training
    from common.run_index import ImageRecord
    from finetune.image_source import SOURCE_FILE

    calls, folders = [], {tmp_path / "run" / "draft" / "model": "draft",
                          tmp_path / "run" / "model": "run"}
    monkeypatch.setattr(finetune.train, "fine_tune",
                        lambda paths, labels, model_dir, settings, **_:
                        calls.append((list(labels), folders[Path(model_dir)]))
                        or {"epochs_done": 1})
    monkeypatch.setattr(finetune.train, "keep_backbone", lambda model_dir, *_: calls.append(
        ("kept", folders[Path(model_dir)])) or {"epochs_done": 0})
    monkeypatch.setattr(self_training, "keep_draft_model", lambda config: calls.append(
        "draft kept"))
    found = {"known_classes": len(known), "draft_clusters": 3,
             "new_classes": len(set(pseudo.values())), "images": len(pseudo)}
    monkeypatch.setattr(self_training, "draft_pseudo_labels", lambda config, trained: (
        (pseudo, found) if trained == {f"{c}.png": c for c in known} else None))
    config = load_config({"RUN_DIR": str(tmp_path / "run"), "SELF_TRAIN_SHARE": "0.5"})
    labeled = [ImageRecord(f"{c}.png", tmp_path / f"{c}.png", c, True) for c in known]
    records = labeled + [ImageRecord(f"u{i}.png", tmp_path / f"u{i}.png", "", False)
                         for i in range(6)]
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / SOURCE_FILE).write_text('{"source": "removed"}')
    result = self_training.fine_tune_run(config, SimpleNamespace(epochs=4), records, labeled)
    assert calls == rounds
    assert line in self_training_note(result["self_training"], 0.5)


def test_the_draft_model_becomes_the_runs_and_an_identical_file_keeps_its_time(tmp_path):
    import os

    from somclust.self_training import keep_draft_model

    config = load_config({"RUN_DIR": str(tmp_path / "run")})
    draft, model = tmp_path / "run" / "draft" / "model", tmp_path / "run" / "model"
    draft.mkdir(parents=True)
    model.mkdir(parents=True)
    (draft / "finetuned.keras").write_bytes(b"draft weights")
    (draft / "classes.json").write_text('["bag", "coat"]')
    (model / "classes.json").write_text('["bag", "coat"]')
    os.utime(model / "classes.json", ns=(1, 1))               # as if written long ago
    keep_draft_model(config)
    assert (model / "finetuned.keras").read_bytes() == b"draft weights"
    assert (model / "classes.json").stat().st_mtime_ns == 1     # unchanged: left as it was
    assert not (model / "training_log.csv").exists()            # none in the draft: none copied
