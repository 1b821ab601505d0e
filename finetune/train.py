"""Fine-tuning that survives being killed: atomic checkpoints each epoch, resumed on re-run."""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Collection, Sequence

import keras
import numpy as np
from tqdm import tqdm

from common.atomic_io import atomic_copy_file, atomic_write_csv, atomic_write_json
from finetune.augment import build_augmentation
from finetune.backbones import CORE_NAME, build_backbone, build_classifier
from finetune.data import AugmentedImages, EpochSetter

LOG = logging.getLogger("somclust")
FINAL_MODEL = "finetuned.keras"
LOG_FILE = "training_log.csv"                    # one row per epoch, written from the state
PROBE_PER_CLASS = 300   # images per class the head is fitted on (FT_HEAD_INIT=probe): a cost bound
                        # for large labeled sets (a forward pass each), above every suite cell


@dataclass(frozen=True)
class FineTuneSettings:
    """Config keys of stage 02."""

    backbone: str = "inception_v3"
    weights: str = "none"
    image_size: int = 96
    max_side: int = 0                   # images read shrunk to this longer side (WORK_MAX_SIDE)
    epochs: int = 4
    batch_size: int = 32
    learning_rate: float = 0.0          # 0 = auto
    validation_split: float = 0.15
    patience: int = 2
    augmentations: tuple[str, ...] = ("flip",)
    head_init: str = "probe"            # probe (LP-FT) | random
    seed: int = 0

    @classmethod
    def from_config(cls, config) -> "FineTuneSettings":
        """The settings a run's config gives (BACKBONE, WEIGHTS, IMAGE_SIZE, FT_*, ...)."""
        return cls(backbone=config.BACKBONE, weights=config.WEIGHTS, image_size=config.IMAGE_SIZE,
                   max_side=config.WORK_MAX_SIDE, epochs=config.FT_EPOCHS, batch_size=config.FT_BATCH_SIZE,
                   learning_rate=config.FT_LEARNING_RATE,
                   validation_split=config.FT_VALIDATION_SPLIT, patience=config.FT_PATIENCE,
                   augmentations=tuple(config.AUGMENTATIONS), head_init=config.FT_HEAD_INIT,
                   seed=config.SEED)


def set_determinism(seed: int) -> None:
    """Seed Python, numpy and TensorFlow; make TF ops deterministic."""
    keras.utils.set_random_seed(seed)
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


def save_model_atomically(model: keras.Model, path: Path) -> None:
    """Save a .keras file through a temporary name, so a kill never leaves half a model."""
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


class BatchProgress(keras.callbacks.Callback):
    """A progress bar over each epoch's batches, with the running loss and accuracy."""

    def on_epoch_begin(self, epoch, logs=None):
        self.bar = tqdm(total=self.params.get("steps"), unit="batch", leave=False,
                        desc=f"fine-tune epoch {epoch + 1}/{self.params.get('epochs')}")

    def on_train_batch_end(self, batch, logs=None):
        self.bar.set_postfix({name: f"{value:.3f}" for name, value in (logs or {}).items()},
                             refresh=False)
        self.bar.update()

    def on_epoch_end(self, epoch, logs=None):
        self.bar.close()


class ResumableCheckpoint(keras.callbacks.Callback):
    """Each epoch: save the model as ``epoch_<n>.keras``, track the best (by monitored loss) and
    early stopping, write ``training_log.csv`` (one row per epoch, Keras's CSV log format) from
    the state's history, then record the state naming the last and the best model; a re-run
    continues from the state's last model, so a kill between the save and the state loses one
    epoch, never pairs a model or a log row with another epoch's state. Other epochs' files are
    then removed."""

    def __init__(self, model_dir: Path, monitor: str, patience: int, state: dict):
        super().__init__()
        self.model_dir, self.monitor, self.patience, self.state = model_dir, monitor, patience, state

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        loss = float(logs.get(self.monitor, math.inf))
        improved = loss < self.state.get("best_loss", math.inf)
        LOG.info("epoch %d/%d: %s%s", epoch + 1, self.params.get("epochs"),
                 ", ".join(f"{name} {value:.4f}" for name, value in logs.items()),
                 " (best so far)" if improved else "")
        name = f"epoch_{epoch + 1}.keras"
        save_model_atomically(self.model, self.model_dir / name)
        if improved:
            self.state.update(best_loss=loss, best_epoch=epoch + 1, best_model=name, wait=0)
        else:
            self.state["wait"] = self.state.get("wait", 0) + 1
        history = self.state.setdefault("history", [])
        history[epoch:] = [{"epoch": epoch, **{key: float(value) for key, value in logs.items()}}]
        self.state.update(epochs_done=epoch + 1, last_model=name)
        if self.patience and self.state["wait"] >= self.patience:
            self.state["stopped_early"] = True
            self.model.stop_training = True
        header = sorted({key for row in history for key in row} - {"epoch"})
        atomic_write_csv(self.model_dir / LOG_FILE, ("epoch", *header),
                         [[row["epoch"], *(row.get(key, "") for key in header)] for row in history])
        atomic_write_json(self.model_dir / "state.json", self.state)
        remove_checkpoints(self.model_dir, keep={name, self.state.get("best_model")})


def remove_checkpoints(model_dir: Path, keep: Collection[str | None] = ()) -> None:
    """Delete ``model_dir``'s per-epoch models (``epoch_<n>.keras``) but those named in ``keep``."""
    for path in model_dir.glob("epoch_*.keras"):
        if path.name not in keep:
            path.unlink(missing_ok=True)


def _named_model(model_dir: Path, state: dict, key: str) -> Path | None:
    """The model file the fine-tuning state names under ``key`` (``last_model``,
    ``best_model``), if it is there."""
    name = state.get(key)
    return model_dir / name if name and (model_dir / name).is_file() else None


def split_train_validation(labels: np.ndarray, fraction: float,
                           seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified index split; classes with fewer than 2 images stay in training."""
    rng = np.random.default_rng(seed)
    train, validation = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val = int(round(len(members) * fraction)) if len(members) >= 2 else 0
        n_val = min(n_val, len(members) - 1)
        validation.extend(members[:n_val])
        train.extend(members[n_val:])
    return np.sort(np.array(train, dtype=int)), np.sort(np.array(validation, dtype=int))


def per_class_sample(labels: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``limit`` images of each class (a seeded draw)."""
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == label))[:limit]
                                   for label in np.unique(labels)]))


def _json_settings(settings: FineTuneSettings) -> dict:
    """The settings a saved model depends on (not how long it trains), as JSON values."""
    return json.loads(json.dumps({k: v for k, v in asdict(settings).items()
                                  if k not in ("epochs", "patience")}))


def training_data_digest(paths: Sequence[str], labels: Sequence[str]) -> str:
    """Digest of the (image, label) pairs trained on: a checkpoint made from other images or
    labels (a changed labels file, a review's classes) is not resumed. Paths count as absolute:
    the same images named from another folder, or under a relative WORK_DIR in one run and an
    absolute one in the next, are the same training data."""
    absolute = (os.path.abspath(path) for path in paths)
    text = "\n".join(f"{path}\t{label}" for path, label in sorted(zip(absolute, labels)))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def keep_backbone(model_dir: Path, settings: FineTuneSettings, n_classes: int,
                  n_images: int) -> dict:
    """Save the backbone as it is as the model of ``model_dir`` (nothing to fine-tune on, or
    FT_EPOCHS=0); returns the summary, with ``epochs_done`` 0."""
    if settings.weights == "none":
        LOG.warning("WEIGHTS=none gives a random network whose features carry little: use "
                    "pretrained weights, or fine-tune it on thousands of labeled images")
    state_path, kept = model_dir / "state.json", {"kept_backbone": _json_settings(settings)}
    saved = state_path.exists() and json.loads(state_path.read_text()) == kept
    if not (saved and (model_dir / FINAL_MODEL).exists()):    # (else: features made with it stay)
        for stale in (LOG_FILE, "state.json"):
            (model_dir / stale).unlink(missing_ok=True)
        remove_checkpoints(model_dir)
        set_determinism(settings.seed)
        backbone = build_backbone(settings.backbone, settings.weights, settings.image_size)
        save_model_atomically(backbone, model_dir / FINAL_MODEL)
        atomic_write_json(state_path, kept)
    return {"classes": n_classes, "train_images": 0, "validation_images": 0, "epochs_done": 0,
            "best_epoch": 0, "labeled_images": n_images}


def is_kept_backbone(model_dir: Path, backbone: str, weights: str, image_size: int,
                     seed: int) -> bool:
    """Whether ``model_dir``'s model is ``backbone`` with ``weights`` at ``image_size`` as
    :func:`keep_backbone` saved it under ``seed`` (not fine-tuned): the network stage 03 builds
    as the un-fine-tuned one."""
    state_path = model_dir / "state.json"
    if not state_path.exists():
        return False
    kept = json.loads(state_path.read_text()).get("kept_backbone") or {}
    return [kept.get(key) for key in ("backbone", "weights", "image_size", "seed")] == [
        backbone, weights, image_size, seed]


def new_classifier(settings: FineTuneSettings, n_classes: int) -> keras.Model:
    """The backbone + softmax head stage 02 trains, compiled (Adam; with pretrained weights
    ImageNet's BatchNorm statistics are kept: few labeled images)."""
    model = build_classifier(build_backbone(settings.backbone, settings.weights,
                                            settings.image_size), n_classes)
    pretrained = settings.weights != "none"
    if pretrained:
        for layer in model.get_layer(CORE_NAME).layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    learning_rate = settings.learning_rate or (1e-4 if pretrained else 1e-3)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy",
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    # Every variable exists before fit() traces the training step: a variable made while tracing
    # (the optimizer's slots, a metric named by a string) makes TensorFlow trace it twice.
    model.optimizer.build(model.trainable_variables)
    return model


def frozen_features(model: keras.Model, images: AugmentedImages) -> np.ndarray:
    """The features the head of a :func:`new_classifier` reads (its backbone's pooled output)
    of ``images``."""
    return keras.Model(model.input, model.get_layer("head_dropout").input).predict(images,
                                                                                   verbose=0)


def fit_head_to_features(model: keras.Model, features: np.ndarray, labels: np.ndarray) -> None:
    """Linear probe before fine-tuning (LP-FT, Kumar et al., ICLR 2022): set the softmax head of
    a :func:`new_classifier` to a multinomial logistic regression on the frozen backbone's
    ``features`` of images of class indices ``labels``, so the first gradients into the backbone
    come from a fitted head instead of a random one, which distorts the features less."""
    from sklearn.linear_model import LogisticRegression

    head = model.get_layer("classes")
    probe = LogisticRegression(max_iter=1000).fit(features, labels)
    kernel = np.zeros((features.shape[1], head.units), np.float32)
    bias = np.zeros(head.units, np.float32)
    columns = probe.classes_ if len(probe.classes_) > 2 else probe.classes_[1:]
    kernel[:, columns] = probe.coef_.T      # two classes: softmax([0, z]) = sigmoid(z)
    bias[columns] = probe.intercept_
    head.set_weights([kernel, bias])


def fine_tune(paths: Sequence[str | Path], labels: Sequence[str], model_dir: str | Path,
              settings: FineTuneSettings,
              probe_features: Callable[[Sequence[str]], np.ndarray] | None = None) -> dict:
    """Fine-tune the backbone to classify ``labels``; returns a summary. ``probe_features(paths)``
    gives the un-fine-tuned backbone's features of image files for the head's probe
    (``FT_HEAD_INIT=probe``; stage 02 passes one that keeps them between its rounds); without
    it they are computed here.

    Writes the best and the last epoch's model (``epoch_<n>.keras``), ``state.json``,
    ``training_log.csv``, ``classes.json`` and finally ``finetuned.keras`` (a copy of the best
    epoch's model) into ``model_dir``.
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    classes = sorted(set(labels))
    if len(classes) < 2 or settings.epochs == 0:
        why = ("FT_EPOCHS=0" if settings.epochs == 0 else
               f"labeled images of {len(classes)} class{'es' if len(classes) != 1 else ''}, "
               "need 2")
        LOG.warning("not fine-tuning (%s): the %s network (%s weights) is used as it is",
                    why, settings.backbone, settings.weights)
        return keep_backbone(model_dir, settings, len(classes), len(paths))
    y = np.array([classes.index(label) for label in labels], dtype=np.int32)
    train_idx, val_idx = split_train_validation(y, settings.validation_split, settings.seed)
    paths = [str(p) for p in paths]
    set_determinism(settings.seed)
    state_path = model_dir / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    resumable = {**_json_settings(settings), "data": training_data_digest(paths, labels)}
    train_paths = [paths[i] for i in train_idx]
    last = _named_model(model_dir, state, "last_model")
    if state.get("settings") == resumable and last:
        model = keras.models.load_model(last)
        LOG.info("resuming fine-tuning after epoch %d", state.get("epochs_done", 0))
    else:
        state = {"settings": resumable}
        for stale in (LOG_FILE, FINAL_MODEL):
            (model_dir / stale).unlink(missing_ok=True)
        remove_checkpoints(model_dir)
        model = new_classifier(settings, len(classes))
        if settings.head_init == "probe":
            probe_idx = train_idx[per_class_sample(y[train_idx], PROBE_PER_CLASS, settings.seed)]
            LOG.info("fitting the classifier head to the frozen network's features of %d "
                     "training images", len(probe_idx))
            probe_paths = [paths[i] for i in probe_idx]
            features = (probe_features(probe_paths) if probe_features else frozen_features(
                model, AugmentedImages(probe_paths, y[probe_idx], settings.image_size,
                                       settings.batch_size, None, settings.seed, shuffle=False,
                                       max_side=settings.max_side)))
            fit_head_to_features(model, features, y[probe_idx])
    atomic_write_json(model_dir / "classes.json", classes)
    train_data = AugmentedImages(train_paths, y[train_idx], settings.image_size,
                                 settings.batch_size,
                                 build_augmentation(settings.augmentations, settings.seed),
                                 settings.seed, shuffle=True, max_side=settings.max_side)
    validation_data = (AugmentedImages([paths[i] for i in val_idx], y[val_idx],
                                       settings.image_size, settings.batch_size, None,
                                       settings.seed, shuffle=False, max_side=settings.max_side)
                       if len(val_idx) else None)
    monitor = "val_loss" if validation_data is not None else "loss"
    start = int(state.get("epochs_done", 0))
    trains = start < settings.epochs and not state.get("stopped_early")
    if trains:
        # shuffle=False: train_data shuffles by (seed, epoch); Keras's own batch shuffling draws
        # from Python's global random state, which a resumed run starts afresh
        model.fit(train_data, validation_data=validation_data, epochs=settings.epochs,
                  initial_epoch=start, shuffle=False, verbose=0,
                  callbacks=[EpochSetter(train_data),
                             BatchProgress(),
                             ResumableCheckpoint(model_dir, monitor, settings.patience, state)])
    best_path = _named_model(model_dir, state, "best_model")
    if trains or not (model_dir / FINAL_MODEL).exists():
        # (a finished fine-tuning resumed: the saved model stays, and so do features made with it)
        if best_path:
            atomic_copy_file(best_path, model_dir / FINAL_MODEL)
        else:
            save_model_atomically(model, model_dir / FINAL_MODEL)
    return {"classes": len(classes), "train_images": len(train_idx),
            "validation_images": len(val_idx), "epochs_done": int(state.get("epochs_done", 0)),
            "best_epoch": int(state.get("best_epoch", 0)),
            "best_" + monitor: float(state.get("best_loss", math.nan))}
