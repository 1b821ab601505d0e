"""CLUSTER_RESTARTS: each view clustered with several SOM draws, the most modular kept."""
from dataclasses import replace

import numpy as np
import pytest

from cluster.run import (RESTART_SEED_STRIDE, ClusterSettings, cluster_run, fit_clustering,
                         fit_most_modular, restart_seeds)
from cluster.view_choice import highest_modularity
from helpers import write_feature_view

SETTINGS = ClusterSettings(4, 4, 10, feature_pca=8, k_max=8, seed=3)


def _blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(features of 6 overlapping blobs in 40 dims, a few labels of two of them). 600 rows: PCA
    takes its seeded randomized solver, so the SOM draws differ (on a few hundred rows they
    need not)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(6), 100)
    X = (rng.normal(0, 1, (6, 40))[y] + rng.normal(0, 1, (len(y), 40))).astype(np.float32)
    return np.abs(X), np.where((y < 2) & (np.arange(len(y)) % 5 == 0), y, -1)


def test_the_restart_seeds_start_at_the_seed_and_share_none_with_nearby_seeds():
    assert restart_seeds(SETTINGS) == [3]
    assert restart_seeds(replace(SETTINGS, restarts=3)) == [3, 3 + RESTART_SEED_STRIDE,
                                                             3 + 2 * RESTART_SEED_STRIDE]
    nearby = {s for seed in range(8) for s in restart_seeds(replace(SETTINGS, seed=seed, restarts=8))}
    assert len(nearby) == 64
    with pytest.raises(ValueError, match="restarts=0"):
        restart_seeds(replace(SETTINGS, restarts=0))


def test_the_most_modular_draw_is_kept():
    X, known = _blobs()
    files = [f"{i}.png" for i in range(len(X))]
    settings = replace(SETTINGS, restarts=4)
    draws = [fit_clustering(X, files, known, replace(settings, seed=seed))
             for seed in restart_seeds(settings)]
    values = [highest_modularity(fit.model) for fit in draws]
    assert len(set(np.round(values, 6))) > 1                     # the draws differ
    kept = fit_most_modular(X, files, known, settings)
    best = draws[int(np.argmax(values))]
    assert int(np.argmax(values)) > 0                             # not the plain fit here
    assert highest_modularity(kept.model) == pytest.approx(max(values))
    assert kept.model.random_state == best.model.random_state
    assert np.array_equal(kept.labels, best.labels)
    one = fit_most_modular(X, files, known, SETTINGS)              # one draw: the plain fit
    assert np.array_equal(one.labels, fit_clustering(X, files, known, SETTINGS).labels)


def test_stage_04_records_and_prints_the_kept_draw(tmp_path):
    from somclust.stages.cluster_features import restart_note

    X, known = _blobs()
    files = [f"img_{i:03d}.png" for i in range(len(X))]
    features = tmp_path / "features"
    features.mkdir()
    write_feature_view(features, "features", X, files)
    settings = replace(SETTINGS, restarts=3)
    part = cluster_run(features, tmp_path, "finetuned", lambda names: known, settings)["clusters"]
    assert part["restarts"] == 3 and part["seed"] in restart_seeds(settings)
    assert restart_note(part, part) == f" (the most modular of 3 draws: seed {part['seed']})"
    assert restart_note({"restarts": 1}, part) == "" == restart_note({}, {"n_clusters": 4})
