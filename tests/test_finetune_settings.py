"""Stage 02's settings and how it splits the labeled images."""
import numpy as np

from config import load_config
from finetune.train import FineTuneSettings, per_class_sample, split_train_validation


def test_settings_follow_the_config():
    config = load_config({"FT_EPOCHS": "7", "FT_PATIENCE": "3", "IMAGE_SIZE": "160"}, environ={})
    settings = FineTuneSettings.from_config(config)
    assert (settings.epochs, settings.patience, settings.image_size) == (7, 3, 160)
    assert settings.augmentations == tuple(config.AUGMENTATIONS)


def test_validation_split_is_stratified_and_keeps_singletons_in_training():
    labels = np.array([0] * 20 + [1] * 10 + [2])
    train, validation = split_train_validation(labels, 0.2, seed=0)
    assert sorted(np.concatenate([train, validation]).tolist()) == list(range(len(labels)))
    assert np.bincount(labels[validation], minlength=3).tolist() == [4, 2, 0]
    assert np.array_equal(validation, split_train_validation(labels, 0.2, seed=0)[1])



def test_probe_sample_caps_each_class_and_keeps_small_ones_whole():
    """The head is fitted on at most so many images per class (a seeded draw); a class under the
    cap keeps every image, in order, so small labeled sets are probed exactly as before."""
    labels = np.array([0] * 50 + [1] * 7 + [2] * 30)
    sample = per_class_sample(labels, 10, seed=3)
    assert np.bincount(labels[sample]).tolist() == [10, 7, 10]
    assert np.all(np.diff(sample) > 0)
    assert np.array_equal(sample, per_class_sample(labels, 10, seed=3))
    assert np.array_equal(per_class_sample(labels, 50, seed=0), np.arange(len(labels)))

def _coloured_images(folder, colours, per_class):
    """PNG files of flat colours with a little noise; returns (paths, class indices)."""
    import cv2

    rng = np.random.default_rng(0)
    paths, y = [], []
    for index, colour in enumerate(colours):
        for n in range(per_class):
            pixels = np.clip(np.array(colour) + rng.normal(0, 20, (16, 16, 3)), 0, 255)
            path = folder / f"c{index}_{n}.png"
            cv2.imwrite(str(path), pixels.astype(np.uint8))
            paths.append(str(path))
            y.append(index)
    return paths, np.array(y, dtype=np.int32)


def test_probe_head_classifies_the_training_images_before_any_fine_tuning(tmp_path):
    """FT_HEAD_INIT=probe: the head is a logistic regression on the frozen features (two or
    more classes), so the classifier is right on its training images before any gradient step."""
    import keras

    from finetune.backbones import build_classifier
    from finetune.data import AugmentedImages
    from finetune.train import fit_head_to_features, frozen_features

    assert FineTuneSettings.from_config(load_config({"FT_HEAD_INIT": "probe"},
                                                    environ={})).head_init == "probe"
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    for n_classes in (3, 2):
        paths, y = _coloured_images(tmp_path, colours[-n_classes:], per_class=12)
        keras.utils.set_random_seed(0)
        inputs = keras.Input((16, 16, 3))
        backbone = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs / 255.0))
        model = build_classifier(backbone, n_classes)
        images = AugmentedImages(paths, y, 16, 8, None, seed=0, shuffle=False)
        assert np.mean(model.predict(images, verbose=0).argmax(axis=1) == y) < 0.9   # random
        fit_head_to_features(model, frozen_features(model, images), y)
        predicted = model.predict(images, verbose=0).argmax(axis=1)
        assert np.mean(predicted == y) == 1.0
