"""Stage 02's settings and how it splits the labeled images."""
import numpy as np

from config import load_config
from finetune.train import FineTuneSettings, split_train_validation


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
