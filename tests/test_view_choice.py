"""FEATURE_SET=auto: the view whose clustering has the higher modularity is kept."""
import numpy as np
import pytest

from cluster.clusterer import SOMClusterer
from cluster.view_choice import choose_view, highest_modularity, kept_view, view_choice_note
from helpers import write_feature_view


def _fitted(X: np.ndarray, known: np.ndarray | None = None) -> SOMClusterer:
    return SOMClusterer(5, 5, 10, k_max=8, random_state=0).fit(X, known)


def _views(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(classes, a view carrying them: 4 blobs in 16 dims, a noise view of the same shape)."""
    rng = np.random.default_rng(seed)
    classes = np.repeat(np.arange(4), 60)
    centres = rng.normal(0, 1, (4, 16)) * 4
    carrying = (centres[classes] + rng.normal(0, 1, (len(classes), 16))).astype(np.float32)
    noise = rng.normal(0, 1, carrying.shape).astype(np.float32)
    return classes, carrying, noise


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_view_that_carries_the_classes_is_chosen_over_noise(seed):
    classes, carrying, noise = _views(seed)
    known = np.where(np.arange(len(classes)) % 6 == 0, classes, -1)   # a few labels, as stage 04
    for y in (None, known):
        models = {"finetuned": _fitted(noise, y), "pretrained": _fitted(carrying, y)}
        modularities = {view: highest_modularity(model) for view, model in models.items()}
        assert modularities["pretrained"] > modularities["finetuned"] + 0.2
        assert choose_view(modularities) == "pretrained" == kept_view(models)
        assert choose_view(dict(reversed(modularities.items()))) == "pretrained"


def test_a_tie_keeps_the_first_view_and_nothing_to_choose_from_is_an_error():
    assert choose_view({"finetuned": 0.5, "pretrained": 0.5}) == "finetuned"
    assert choose_view({"pretrained": 0.5, "finetuned": 0.5}) == "pretrained"
    assert choose_view({"finetuned": 0.4}) == "finetuned"
    with pytest.raises(ValueError, match="no view"):
        choose_view({})


def test_highest_modularity_skips_the_ks_an_anchored_grouping_does_not_reach():
    model = SOMClusterer()
    model.modularity_ = [float("nan"), 0.31, 0.42, 0.40]
    assert highest_modularity(model) == pytest.approx(0.42)
    model.modularity_ = [float("nan")]
    with pytest.raises(ValueError, match="not fitted"):
        highest_modularity(model)


def test_the_note_names_the_kept_view_and_each_candidates_modularity():
    note = view_choice_note({"feature_set": "pretrained",
                             "view_modularity": {"finetuned": 0.4512, "pretrained": 0.4648}})
    assert note.startswith("features: not fine-tuned (FEATURE_SET=auto")
    assert "fine-tuned 0.451, not fine-tuned 0.465" in note and "draws" not in note
    note = view_choice_note({"feature_set": "finetuned", "restarts": 8,
                             "view_modularity": {"finetuned": 0.47, "pretrained": 0.46}})
    assert "each view's the most modular of 8 SOM draws: fine-tuned 0.470" in note


def test_stage_04_keeps_the_view_of_the_higher_modularity_and_says_so(tmp_path):
    from cluster.run import BASELINE, ClusterSettings, cluster_run
    from evaluate.run import read_clusters

    classes, carrying, noise = _views()
    files = [f"img_{i:03d}.png" for i in range(len(classes))]
    features = tmp_path / "features"
    features.mkdir()
    write_feature_view(features, "features", np.abs(noise), files)         # fine-tuning lost the classes
    settings = ClusterSettings(5, 5, 10, feature_pca=8, k_max=8)

    def known_of(names: list[str]) -> np.ndarray:          # no labels
        return np.full(len(names), -1)

    alone = cluster_run(features, tmp_path, "auto", known_of, settings)
    assert alone["clusters"]["feature_set"] == "finetuned"           # nothing to choose from
    assert "view_modularity" not in alone["clusters"] and BASELINE not in alone
    write_feature_view(features, "features_pretrained", np.abs(carrying), files)
    summary = cluster_run(features, tmp_path, "auto", known_of, settings)
    part = summary["clusters"]
    assert part["feature_set"] == "pretrained" and set(part["view_modularity"]) == {
        "finetuned", "pretrained"}
    assert read_clusters(tmp_path / "clusters.csv") == read_clusters(tmp_path / f"{BASELINE}.csv")
    assert summary[BASELINE]["feature_set"] == "pretrained"
    fixed = cluster_run(features, tmp_path, "finetuned", known_of, settings)["clusters"]
    assert fixed["feature_set"] == "finetuned" and "view_modularity" not in fixed
    untuned = cluster_run(features, tmp_path, "pretrained", known_of, settings)["clusters"]
    assert untuned["feature_set"] == "pretrained" and not untuned["not_fine_tuned"]
    write_feature_view(features, "features", np.abs(carrying), files)     # a network never fine-tuned
    same = cluster_run(features, tmp_path, "auto", known_of, settings)["clusters"]
    assert same["not_fine_tuned"] and not same["baseline"] and "view_modularity" not in same
    assert not (tmp_path / f"{BASELINE}.csv").exists()


def test_the_suites_other_seeds_choose_as_stage_04_does():
    from benchmarks import quality_suite
    from config import load_config

    classes, carrying, noise = _views()
    files = [f"img_{i:03d}.png" for i in range(len(classes))]
    truth = {f: f"c{label}" for f, label in zip(files, classes)}
    views = {"pipeline": (np.abs(noise), files), "untuned": (np.abs(carrying), files)}
    scores = {}
    for feature_set in ("auto", "finetuned"):
        config = load_config({"SOM_ROWS": "5", "SOM_COLS": "5", "SOM_EPOCHS": "10",
                              "FEATURE_PCA": "8", "K_MAX": "8", "FEATURE_SET": feature_set},
                             environ={})
        scores[feature_set] = quality_suite.seed_scores(config, views, truth, set(), files, 1)
    assert scores["auto"]["NMI"] == pytest.approx(scores["auto"]["NMI_untuned"])
    assert scores["auto"]["NMI"] > scores["finetuned"]["NMI"] + 0.5
