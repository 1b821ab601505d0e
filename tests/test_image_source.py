"""Choosing by the labels whether the network sees background-removed or raw images."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.errors import SomclustError
from common.run_index import ImageRecord
from finetune.image_source import (choose_image_source, clearly_better, comparison_draw,
                                   neighbour_votes, read_image_source, save_image_source,
                                   with_source)


def test_neighbour_votes_prefer_the_view_that_carries_the_classes(blobs):
    X, y = blobs
    noise = np.random.default_rng(1).normal(size=X.shape)
    assert neighbour_votes(X, y).all()
    assert neighbour_votes(noise, y).mean() < 0.4                  # six classes: chance is 1/6
    assert not neighbour_votes(X[[0, 80]], y[[0, 80]]).any()       # the only neighbour: other class
    assert not neighbour_votes(X[:1], y[:1]).any()


def test_clearly_better_is_a_sign_test():
    many = np.ones(40, dtype=bool)
    assert clearly_better(many, np.zeros(40, dtype=bool))               # 40 wins, 0 losses
    few = np.array([True] * 4 + [False] * 36)
    assert not clearly_better(few, np.zeros(40, dtype=bool))            # 4 <= 2 * sqrt(4)
    assert not clearly_better(np.zeros(40, dtype=bool), many)


def test_comparison_draw_caps_each_class_and_is_seeded():
    labels = ["a"] * 7 + ["b"] * 2
    rows = comparison_draw(labels, per_class=3, seed=0)
    assert sorted(labels[i] for i in rows) == ["a", "a", "a", "b", "b"]
    assert np.array_equal(rows, comparison_draw(labels, per_class=3, seed=0))


def _records(tmp_path: Path, n: int = 40) -> list[ImageRecord]:
    return [ImageRecord(f"c{i % 2}/x{i}.png", tmp_path / "img" / f"c{i % 2}/x{i}.png", f"c{i % 2}",
                        True, tmp_path / "raw" / f"c{i % 2}/x{i}.png") for i in range(n)]


def test_the_version_that_separates_the_labeled_classes_is_chosen(tmp_path, blobs):
    X, _ = blobs
    records = _records(tmp_path)
    classes = np.array([int(r.label[1]) for r in records])
    informative = X[np.where(classes == 0, 0, 80) + np.arange(len(records))]   # two blobs
    noise = np.random.default_rng(0).normal(size=informative.shape)

    def features_raw_good(paths):
        raw = str(paths[0]).startswith(str(tmp_path / "raw"))
        return informative if raw else noise

    choice = choose_image_source(records, features_raw_good, seed=0)
    assert choice["source"] == "raw" and choice["accuracy"]["raw"] == 1.0
    def features_removed_good(paths):
        return noise if features_raw_good(paths) is informative else informative

    choice = choose_image_source(records, features_removed_good, seed=0)
    assert choice["source"] == "removed"
    one_class = [r for r in records if r.label == "c0"]
    assert choose_image_source(one_class, features_raw_good, 0) == \
        {"source": "raw", "accuracy": {}}                            # no evidence: no removal
    tie = choose_image_source(records, lambda paths: informative, seed=0)
    assert tie["source"] == "raw"


def test_the_choice_is_saved_and_applied(tmp_path):
    records = _records(tmp_path, 4)
    assert read_image_source(tmp_path) == "removed"               # nothing recorded yet
    save_image_source(tmp_path / "model", {"source": "raw", "accuracy": {}})
    assert read_image_source(tmp_path) == "raw"
    with pytest.raises(SomclustError, match=r"c0/x0.png not found.*pass the --raw-dir"):
        with_source(records, "raw")                 # e.g. a stage re-run without its --raw-dir
    for record in records[1:]:                      # one raw image gone: skipped when read
        record.raw_path.parent.mkdir(parents=True, exist_ok=True)
        record.raw_path.write_bytes(b"")
    moved = with_source(records, "raw")
    assert [r.image_path for r in moved] == [tmp_path / "raw" / r.file for r in records]
    assert with_source(records, "removed") == records


def test_network_features_computes_each_files_features_once(tmp_path):
    """The pretrained network's features are read by the choice of images and by each round's
    probe: a file seen before is not run through the network again, and rows come back in the
    order asked."""
    import cv2

    from finetune.backbones import network_features

    paths = []
    for value in range(5):
        paths.append(tmp_path / f"{value}.png")
        cv2.imwrite(str(paths[-1]), np.full((8, 8, 3), value * 40, np.uint8))
    batches = []

    class MeanPixel:
        def predict_on_batch(self, pixels):
            batches.append(len(pixels))
            return pixels.mean(axis=(1, 2))

    features_of = network_features(MeanPixel, image_size=8, batch_size=2)
    first = features_of(paths[:3])
    again = features_of([paths[4], paths[1], paths[4], paths[3]])
    assert batches == [2, 1, 2]                      # 3 files, then the 2 new ones
    np.testing.assert_array_equal(first[:, 0], [0, 40, 80])
    np.testing.assert_array_equal(again[:, 0], [160, 40, 160, 120])
