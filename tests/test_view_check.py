"""FEATURE_SET=auto: the view chosen by how it tells apart known classes held out of training."""
from __future__ import annotations

import json

import numpy as np
import pytest

from common.errors import SomclustError
from finetune.view_check import (CHOICE_FILE, check_views, choose_view, describe_choice,
                                 feature_set_used, held_out_groups, view_hits)


def blobs(labels: list[str], dim: int, spread: float, seed: int) -> np.ndarray:
    """One well-separated random centre per class, plus noise of ``spread``."""
    rng = np.random.default_rng(seed)
    classes = sorted(set(labels))
    centres = rng.normal(size=(len(classes), dim))
    return np.array([centres[classes.index(label)] for label in labels]) + spread * rng.normal(
        size=(len(labels), dim))


LABELS = [f"class{c}" for c in range(6) for _ in range(20)]


def test_held_out_groups_cover_the_classes_and_leave_two_to_train_on():
    assert held_out_groups(["a", "b"], 0) == []
    assert held_out_groups(["c", "a", "b", "a"], 0) == [["a"], ["b"], ["c"]]
    groups = held_out_groups([f"k{i}" for i in range(7)], 3)
    assert len(groups) == 2 and sorted(groups[0] + groups[1]) == [f"k{i}" for i in range(7)]
    assert min(map(len, groups)) >= 2 and groups == held_out_groups([f"k{i}" for i in range(7)], 3)


def test_the_view_carrying_the_classes_is_chosen_over_a_noise_view():
    signal, noise = blobs(LABELS, 32, 2.0, 0), np.random.default_rng(1).normal(size=(120, 32))
    queries = np.arange(len(LABELS))
    hits = view_hits(signal, noise, LABELS, queries)
    assert hits["pretrained"].mean() > hits["both"].mean() > hits["finetuned"].mean()
    assert choose_view(hits) == "pretrained"
    assert choose_view(view_hits(noise, signal, LABELS, queries)) == "both"   # it holds the signal


def test_a_tie_keeps_the_default():
    same = blobs(LABELS, 32, 2.0, 0)
    hits = view_hits(same, same, LABELS, np.arange(len(LABELS)))
    assert choose_view(hits) == "both"


def fake_fine_tuning(held_out_become: str, seed: int = 5):
    """A stand-in for the held-out fine-tuning: the trained classes come out as tight blobs; the
    held-out classes as blobs of their own (``"own"``), merged class by class into trained ones
    (``"merged"``), or each image thrown onto a random trained class (``"scattered"``: what
    fine-tuning on a few labels can do to classes it did not see)."""
    def fine_tune_without(paths, labels, number):
        trained = sorted(set(labels))

        def features_of(all_paths):
            names = [p.split("/")[0] for p in all_paths]
            held_out = sorted(set(names) - set(trained))
            rng = np.random.default_rng(seed)
            if held_out_become == "merged":
                names = [n if n in trained else trained[held_out.index(n) % len(trained)]
                         for n in names]
            elif held_out_become == "scattered":
                names = [n if n in trained else trained[rng.integers(len(trained))] for n in names]
            return blobs(names, 32, 0.05, seed)
        return features_of
    return fine_tune_without


@pytest.mark.parametrize("held_out_become, chosen", [("own", "both"), ("merged", "both"),
                                                     ("scattered", "pretrained")])
def test_leave_classes_out_on_blobs(held_out_become, chosen):
    paths = [f"{label}/{i}.png" for i, label in enumerate(LABELS)]
    pretrained = blobs(LABELS, 32, 2.0, 0)          # the classes, blurred
    calls = []

    def fine_tune_without(train_paths, train_labels, number):
        calls.append(set(train_labels))
        return fake_fine_tuning(held_out_become)(train_paths, train_labels, number)

    result = check_views(paths, LABELS, fine_tune_without,
                         lambda ps: pretrained[[paths.index(p) for p in ps]], seed=0)
    assert len(calls) == 2 and all(len(c) == 3 for c in calls) and calls[0].isdisjoint(calls[1])
    assert result["images"] == len(LABELS) and result["view"] == chosen, result
    accuracy = result["accuracy"]
    if held_out_become == "own":     # sharper than the pretrained blur: fine-tuning carries over
        assert accuracy["pretrained"] < accuracy["finetuned"] == accuracy["both"] == 1.0
    else:                            # not carried over: fine-tuned alone does worst
        assert accuracy["finetuned"] < 0.5 < accuracy["pretrained"]


def test_too_few_known_classes_keep_the_default():
    result = check_views(["a/1", "b/2"], ["a", "b"], None, None, seed=0)
    assert result["view"] == "both" and "needs 3" in result["reason"]


def test_feature_set_used_reads_the_choice(tmp_path):
    assert feature_set_used(tmp_path, "finetuned") == "finetuned"
    with pytest.raises(SomclustError, match="run 02_finetune.py with FEATURE_SET=auto"):
        feature_set_used(tmp_path, "auto")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / CHOICE_FILE).write_text(json.dumps(
        {"view": "pretrained", "accuracy": {"pretrained": 0.9, "finetuned": 0.5, "both": 0.7},
         "images": 40, "groups": [["a"], ["b"]]}))
    assert feature_set_used(tmp_path, "auto") == "pretrained"
    assert "pretrained 0.900" in describe_choice(tmp_path)


def test_a_lead_within_noise_keeps_the_default():
    both = np.array([True] * 30 + [False] * 10)
    one_more, four_more = both.copy(), both.copy()
    one_more[30] = True
    four_more[30:34] = True
    assert choose_view({"both": both, "pretrained": one_more, "finetuned": four_more}) == "both"
    assert choose_view({"both": both, "pretrained": four_more, "finetuned": both}) == "pretrained"
