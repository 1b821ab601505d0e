"""Fine-tuning killed between an epoch's saved model and its recorded state resumes from the
model of the epoch the state records (a small network stands in for the backbone: fast to
trace). That a resumed run gives the uninterrupted run's weights byte for byte is checked with
real processes in test_robustness.py."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

from common.atomic_io import read_csv_rows
from finetune import train
from finetune.backbones import BACKBONES
from finetune.train import FineTuneSettings, fine_tune


class Killed(Exception):
    """Stands for a SIGKILL at the point it is raised."""


def _small_backbone(weights: str, image_size: int) -> keras.Model:
    return keras.Sequential([keras.Input((image_size, image_size, 3)),
                             keras.layers.Conv2D(4, 3, strides=2),
                             keras.layers.GlobalAveragePooling2D()])


def _images(folder: Path) -> tuple[list[Path], list[str]]:
    rng = np.random.default_rng(0)
    folder.mkdir()
    paths, labels = [], []
    for i in range(24):
        path = folder / f"{i}.png"
        cv2.imwrite(str(path), rng.integers(0, 100, (32, 32, 3), np.uint8) + 120 * (i % 2))
        paths.append(path)
        labels.append(f"class {i % 2}")
    return paths, labels


def _logged_epochs(model_dir: Path) -> list[str]:
    return [row["epoch"] for row in read_csv_rows(model_dir / train.LOG_FILE)]


def _killed_before_states_epoch(epoch: int, paths, labels, model_dir: Path,
                                settings: FineTuneSettings, monkeypatch) -> None:
    """Run fine_tune and kill it as its state is about to record ``epoch``."""
    write_json = train.atomic_write_json

    def killed(path, obj):
        if Path(path).name == "state.json" and obj.get("epochs_done") == epoch:
            raise Killed
        return write_json(path, obj)

    monkeypatch.setattr(train, "atomic_write_json", killed)
    with pytest.raises(Killed):
        fine_tune(paths, labels, model_dir, settings)
    monkeypatch.setattr(train, "atomic_write_json", write_json)


def test_a_kill_after_an_epochs_model_before_its_state_resumes_from_the_recorded_epoch(
        tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(BACKBONES, "small", (_small_backbone, (1 / 255, 0.0)))
    settings = FineTuneSettings(backbone="small", weights="none", image_size=32, epochs=3,
                                batch_size=8, patience=0, head_init="random")
    paths, labels = _images(tmp_path / "img")
    model_dir, load_model = tmp_path / "model", keras.models.load_model
    _killed_before_states_epoch(2, paths, labels, model_dir, settings, monkeypatch)
    assert (model_dir / "epoch_2.keras").is_file()               # saved, but not recorded
    assert json.loads((model_dir / "state.json").read_text())["epochs_done"] == 1
    assert _logged_epochs(model_dir) == ["0", "1"]               # the log's row written too
    loaded = []

    def recorded_load(path, **kwargs):
        loaded.append(Path(path).name)
        return load_model(path, **kwargs)

    monkeypatch.setattr(keras.models, "load_model", recorded_load)
    with caplog.at_level(logging.INFO, logger=train.LOG.name):
        summary = fine_tune(paths, labels, model_dir, settings)
    assert "resuming fine-tuning after epoch 1" in caplog.text and loaded == ["epoch_1.keras"]
    state = json.loads((model_dir / "state.json").read_text())
    assert summary["epochs_done"] == state["epochs_done"] == 3 and state["last_model"] == (
        "epoch_3.keras")
    assert {path.name for path in model_dir.glob("epoch_*.keras")} == {
        "epoch_3.keras", state["best_model"]}
    assert (model_dir / train.FINAL_MODEL).read_bytes() == (
        model_dir / state["best_model"]).read_bytes()
    assert _logged_epochs(model_dir) == ["0", "1", "2"]          # epoch 2 once: the re-run's
    assert [row["loss"] for row in read_csv_rows(model_dir / train.LOG_FILE)] == [
        str(row["loss"]) for row in state["history"]]


def test_a_run_resumed_after_a_kill_trains_to_the_uninterrupted_runs_weights(tmp_path,
                                                                             monkeypatch):
    """The batches of an epoch come in the order (SEED, epoch) gives, whatever ran before in
    the process: Keras's own shuffling of a PyDataset's batches draws from Python's global
    random state, which a resumed run starts afresh."""
    monkeypatch.setitem(BACKBONES, "small", (_small_backbone, (1 / 255, 0.0)))
    settings = FineTuneSettings(backbone="small", weights="none", image_size=32, epochs=3,
                                batch_size=4, patience=0, head_init="random")
    paths, labels = _images(tmp_path / "img")
    fine_tune(paths, labels, tmp_path / "uninterrupted", settings)
    _killed_before_states_epoch(3, paths, labels, tmp_path / "resumed", settings, monkeypatch)
    fine_tune(paths, labels, tmp_path / "resumed", settings)
    for run in ("uninterrupted", "resumed"):
        assert json.loads((tmp_path / run / "state.json").read_text())["epochs_done"] == 3
    weights = [keras.models.load_model(tmp_path / run / train.FINAL_MODEL).get_weights()
               for run in ("uninterrupted", "resumed")]
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_the_probe_on_features_passed_in_trains_as_the_probe_on_its_own(tmp_path, monkeypatch):
    """Stage 02 hands fine_tune the pretrained network's features (kept between its rounds):
    the probe reads them for the training images and the run trains as with the features
    computed inside."""
    from finetune.backbones import pretrained_features

    monkeypatch.setitem(BACKBONES, "small", (_small_backbone, (1 / 255, 0.0)))
    settings = FineTuneSettings(backbone="small", weights="none", image_size=32, epochs=2,
                                batch_size=8, patience=0, head_init="probe")
    paths, labels = _images(tmp_path / "img")
    fine_tune(paths, labels, tmp_path / "inside", settings)
    features_of, asked = pretrained_features("small", "none", 32, seed=0), []
    fine_tune(paths, labels, tmp_path / "passed", settings,
              probe_features=lambda files: asked.append(list(files)) or features_of(files))
    train_rows, _ = train.split_train_validation(
        np.array([int(label[-1]) for label in labels]), settings.validation_split, seed=0)
    assert asked == [[str(paths[i]) for i in train_rows]]
    weights = [keras.models.load_model(tmp_path / run / train.FINAL_MODEL).get_weights()
               for run in ("inside", "passed")]
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
