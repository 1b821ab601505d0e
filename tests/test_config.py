import pytest

from config import ConfigError, load_config


def test_defaults_validate():
    config = load_config(environ={})
    assert config.SOM_ROWS > 0 and config.RAW_DIR == f"{config.WORK_DIR}/raw_img"


def test_env_then_cli_override_with_types():
    config = load_config({"SOM_COLS": "7"}, environ={"SOM_ROWS": "20", "SOM_COLS": "3",
                                                    "WORK_DIR": "/tmp/x"})
    assert (config.SOM_ROWS, config.SOM_COLS) == (20, 7)
    assert config.IMG_DIR == "/tmp/x/img"


def test_tuple_and_bool_parsing():
    config = load_config({"DEMO_LABELED_CLASSES": "1,3", "EXTRACT_BASELINE": "no",
                          "FEATURE_SET": "finetuned"}, environ={})
    assert config.DEMO_LABELED_CLASSES == (1, 3) and config.EXTRACT_BASELINE is False


def test_feature_set_needs_the_baseline_features():
    with pytest.raises(ConfigError, match="FEATURE_SET=both uses the un-fine-tuned .* "
                                          "EXTRACT_BASELINE=true or FEATURE_SET=finetuned"):
        load_config({"EXTRACT_BASELINE": "no", "FEATURE_SET": "both"}, environ={})
    # auto chooses between the two views where both are extracted, else keeps the fine-tuned one
    assert load_config({"EXTRACT_BASELINE": "no"}, environ={}).FEATURE_SET == "auto"


@pytest.mark.parametrize("overrides, key", [
    ({"SOM_ROWS": "-1"}, "SOM_ROWS"),
    ({"K_MIN": "9", "K_MAX": "3"}, "K_MIN"),
    ({"BACKBONE": "resnet"}, "BACKBONE"),
    ({"WEIGHTS": "/no/such/file.h5"}, "WEIGHTS"),
    ({"FEATURE_SET": "magic"}, "FEATURE_SET"),
    ({"AUGMENTATIONS": "flip,warp"}, "AUGMENTATIONS"),
    ({"IMAGE_SIZE": "32"}, "IMAGE_SIZE"),
    ({"SOM_ROWS": "ten"}, "SOM_ROWS"),
    ({"ANCHOR_SHARE": "-0.5"}, "ANCHOR_SHARE"),
    ({"SELF_TRAIN_SHARE": "1.5"}, "SELF_TRAIN_SHARE"),
])
def test_invalid_values_name_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key):
        load_config(overrides, environ={})


def test_unknown_key_is_rejected():
    with pytest.raises(ConfigError, match="unknown config key"):
        load_config({"SOM_ROWZ": "3"}, environ={})


def test_fingerprint_names_a_folder_the_same_relative_or_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    keys = ("WORK_DIR", "RUN_DIR", "IMG_DIR", "WEIGHTS", "SEED")
    relative = load_config({"WORK_DIR": "work"}, environ={}).fingerprint(keys)
    absolute = load_config({"WORK_DIR": str(tmp_path / "work")}, environ={}).fingerprint(keys)
    assert relative == absolute
    assert relative["RUN_DIR"] == str(tmp_path / "work" / "efficientnet_lite0")
    assert relative["WEIGHTS"] == "imagenet" and relative["SEED"] == 0


@pytest.mark.parametrize("overrides", [{"RAW_DIR": "photos", "WORK_DIR": "photos/work"},
                                       {"RAW_DIR": "photos", "WORK_DIR": "photos"},
                                       {"RAW_DIR": "photos", "IMG_DIR": "photos/processed"}])
def test_nothing_is_written_inside_the_image_folder(overrides):
    key = "IMG_DIR" if "IMG_DIR" in overrides else "WORK_DIR"
    with pytest.raises(ConfigError, match=f"{key}=.* is inside RAW_DIR=photos"):
        load_config(overrides, environ={})
    assert load_config({"RAW_DIR": "photos", "WORK_DIR": "photos_work"}, environ={})
