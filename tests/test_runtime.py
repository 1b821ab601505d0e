"""The OpenVINO runtime: same features as Keras, cached conversion, fallback to Keras."""
import logging

import numpy as np
import pytest

from extract import runtime
from extract.runtime import (convert_to_openvino, converted_network, network_predictor,
                             openvino_path)

pytest.importorskip("openvino")


def _photos(side: int, n: int = 8) -> np.ndarray:
    """Crops of scikit-image's sample photos, (n, side, side, 3) uint8."""
    import cv2
    import skimage.data

    sources = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    crops = []
    for i in range(n):
        image = sources[i % len(sources)]
        top, left = 20 * i, 15 * i
        crops.append(cv2.resize(image[top:top + 200, left:left + 200], (side, side),
                                interpolation=cv2.INTER_AREA))
    return np.stack(crops)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


@pytest.mark.parametrize("backbone, weights", [("efficientnet_lite0", "imagenet"),
                                               ("inception_v3", "none")])
def test_openvino_float32_gives_the_keras_features(tmp_path, backbone, weights):
    from finetune.backbones import build_backbone, feature_extractor

    network = feature_extractor(build_backbone(backbone, weights, 75))
    pixels = _photos(75)
    xml = convert_to_openvino(network, openvino_path(tmp_path, "features", "key"))
    predict, used, _ = network_predictor(lambda precision: network, "openvino", "float32", xml)
    assert used == "openvino"
    expected = np.asarray(network.predict_on_batch(pixels))
    assert _cosines(predict(pixels), expected).min() >= 0.999
    assert _cosines(predict(pixels[:3]), expected[:3]).min() >= 0.999   # any batch size


def test_the_conversion_is_cached_and_replaces_older_ones(tmp_path):
    import keras

    inputs = keras.Input((8, 8, 3))
    network = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    folder = tmp_path / "openvino"
    folder.mkdir()
    for stale in ("features_0123456789ab.xml", "features_0123456789ab.bin",
                  "features_pretrained_0123456789ab.xml"):
        (folder / stale).write_text("older")
    xml = convert_to_openvino(network, openvino_path(tmp_path, "features", "new key"))
    assert xml.exists() and xml.with_suffix(".bin").exists()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [xml.name, xml.with_suffix(".bin").name, "features_pretrained_0123456789ab.xml"])
    made = xml.stat().st_mtime_ns
    assert convert_to_openvino(network, xml) == xml and xml.stat().st_mtime_ns == made
    assert converted_network(lambda precision: network, xml) == xml   # what the Ray actors load
    pixels = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    predict, used, _ = network_predictor(lambda precision: network, "openvino", "float32", xml)
    np.testing.assert_allclose(predict(pixels), pixels.mean(axis=(1, 2)), rtol=1e-5)


def test_a_failed_conversion_falls_back_to_keras_with_one_line(tmp_path, monkeypatch):
    import keras

    inputs = keras.Input((8, 8, 3))
    network = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))

    def broken(*args):
        raise RuntimeError("unsupported operation Foo\nlong trace")

    monkeypatch.setattr(runtime, "convert_to_openvino", broken)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("somclust").addHandler(handler)
    try:
        predict, used, converted = network_predictor(lambda precision: network, "openvino",
                                                     "float32", tmp_path / "x.xml")
        for_actors = converted_network(lambda precision: network, tmp_path / "x.xml")
    finally:
        logging.getLogger("somclust").removeHandler(handler)
    assert used == "keras" and converted is None and for_actors is None
    assert [r.getMessage() for r in records] == 2 * [
        "EXTRACT_RUNTIME=openvino could not be used (unsupported operation Foo): running the "
        "network in Keras; set EXTRACT_RUNTIME=keras to skip the attempt"]
    pixels = np.ones((2, 8, 8, 3), np.float32)
    np.testing.assert_allclose(predict(pixels), np.ones((2, 3)))


def test_openvino_runs_bfloat16_only_with_native_bfloat16(monkeypatch):
    from extract.runtime import precision_on

    for native in (True, False):
        monkeypatch.setattr(runtime, "native_bfloat16", lambda native=native: native)
        assert precision_on("openvino", "auto") == ("bfloat16" if native else "float32")
        assert precision_on("keras", "auto") == "float32"       # Keras's bfloat16 is slower
        assert precision_on("keras", "bfloat16") == "bfloat16"
        assert precision_on("openvino", "bfloat16") == ("bfloat16" if native else "float32")
        assert precision_on("openvino", "float32") == precision_on("keras", "float32") == "float32"


def test_native_bfloat16_is_false_without_openvino(monkeypatch):
    import sys

    runtime.native_bfloat16.cache_clear()
    monkeypatch.setitem(sys.modules, "openvino", None)          # import openvino fails
    try:
        assert runtime.native_bfloat16() is False
    finally:
        runtime.native_bfloat16.cache_clear()


def test_the_keras_fallback_of_auto_runs_in_float32(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(runtime, "native_bfloat16", lambda: True)
    monkeypatch.setattr(runtime, "converted_network", lambda make_network, xml_path: None)

    class Network:
        predict_on_batch = None

    network_predictor(lambda precision: asked.append(precision) or Network(), "openvino", "auto",
                      tmp_path / "x.xml")
    assert asked == ["float32"]


def test_a_bfloat16_request_without_native_bfloat16_compiles_float32_and_says_so(
        tmp_path, monkeypatch, caplog):
    compiled = []
    monkeypatch.setattr(runtime, "native_bfloat16", lambda: False)
    monkeypatch.setattr(runtime, "converted_network", lambda make_network, xml_path: xml_path)
    monkeypatch.setattr(runtime, "openvino_predictor",
                        lambda xml_path, precision: compiled.append(precision) or len)
    with caplog.at_level(logging.INFO, logger="somclust"):
        _, ran_on, _ = network_predictor(None, "openvino", "bfloat16", tmp_path / "x.xml")
    assert ran_on == "openvino" and compiled == ["float32"]
    assert "no native bfloat16, OpenVINO computes float32 here" in caplog.text
