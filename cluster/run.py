"""Stage 04 over a run: cluster its features (FEATURE_SET=auto: both views, the one of the higher
modularity kept; each view the most modular of CLUSTER_RESTARTS SOM draws) and write clusters +
k-scores atomically."""
from __future__ import annotations

import pickle
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
from tqdm import tqdm

from cluster.clusterer import SOMClusterer
from cluster.duplicates import distance_ratios, duplicate_groups
from cluster.features import FeaturePreparer
from cluster.view_choice import CANDIDATE_VIEWS, choose_view, highest_modularity
from common.atomic_io import atomic_write_bytes, atomic_write_csv
from common.errors import SomclustError
from extract.features import load_feature_set, same_features

BASELINE = "clusters_pretrained"          # the un-fine-tuned network's clustering
BASELINE_FILES = (f"{BASELINE}.csv", f"{BASELINE}_k_scores.csv", f"{BASELINE}_model.pkl")
RESTART_SEED_STRIDE = 1000                # restart r of seed s fits with seed s + r * this


@dataclass(frozen=True)
class ClusterSettings:
    """Config keys of stage 04, built from config in one place (:meth:`from_config`)."""

    som_rows: int = 12
    som_cols: int = 12
    som_epochs: int = 20
    som_impl: str = "batch"
    feature_pca: int = 64
    k_min: int = 2
    k_max: int = 20
    anchor_share: float = 0.5
    refine_iter: int = 30
    vote_rounds: int = 30
    labeled_per_class: int = 1000
    duplicate_similarity: float = 0.98
    deduplicate: bool = False
    smooth_neighbours: int = 5
    restarts: int = 1
    seed: int = 0

    @classmethod
    def from_config(cls, config: Any) -> "ClusterSettings":
        """The settings a run's config gives (keys SOM_*, FEATURE_PCA, K_*, ANCHOR_SHARE, ...)."""
        return cls(som_rows=config.SOM_ROWS, som_cols=config.SOM_COLS,
                   som_epochs=config.SOM_EPOCHS,
                   som_impl=config.SOM_IMPL, feature_pca=config.FEATURE_PCA,
                   k_min=config.K_MIN, k_max=config.K_MAX,
                   anchor_share=config.ANCHOR_SHARE,
                   refine_iter=config.REFINE_ITER, vote_rounds=config.VOTE_ROUNDS,
                   labeled_per_class=config.CLUSTER_LABELED_PER_CLASS,
                   duplicate_similarity=config.DUPLICATE_SIMILARITY,
                   deduplicate=config.DEDUPLICATE,
                   smooth_neighbours=config.NEIGHBOUR_AVERAGING,
                   restarts=config.CLUSTER_RESTARTS, seed=config.SEED)

    def preparer(self) -> FeaturePreparer:
        """An unfitted preparer (signed square root, L2 normalisation, PCA) for these settings."""
        return FeaturePreparer(self.feature_pca, random_state=self.seed)

    def clusterer(self) -> SOMClusterer:
        """An unfitted SOMClusterer for these settings."""
        return SOMClusterer(self.som_rows, self.som_cols, self.som_epochs, k_min=self.k_min,
                            k_max=self.k_max, som_impl=self.som_impl,
                            anchor_share=self.anchor_share, refine_iter=self.refine_iter,
                            vote_rounds=self.vote_rounds,
                            max_labeled_per_class=self.labeled_per_class,
                            smooth_neighbours=self.smooth_neighbours, random_state=self.seed)


def known_labels(files: list[str], labels: Mapping[str, str], trainable: set[str]) -> np.ndarray:
    """Integer class of each file whose label may be used (trainable), -1 otherwise."""
    classes = sorted({labels[f] for f in files if f in trainable})
    return np.array([classes.index(labels[f]) if f in trainable else -1 for f in files])


@dataclass
class Clustering:
    """Stage 04's clustering of one feature set, before anything is written."""

    preparer: FeaturePreparer
    prepared: np.ndarray           # the features as clustered (L2 normalised, PCA)
    model: SOMClusterer
    units: np.ndarray              # SOM unit of each image
    labels: np.ndarray             # cluster of each image
    groups: list[list[int]]        # near-duplicate or identical images (empty without images)
    identical: set[int]            # the members of the byte-identical groups


def image_duplicates(features: np.ndarray, files: list[str], raw_dir: str | Path,
                     settings: ClusterSettings) -> tuple[list[list[int]], set[int]]:
    """(groups, members of the byte-identical groups) of the near-duplicate or identical
    images among ``files`` in ``raw_dir`` (:func:`cluster.duplicates.duplicate_groups`)."""
    return duplicate_groups(features, [Path(raw_dir) / f for f in files],
                            settings.duplicate_similarity, settings.seed)


def fit_clustering(features: np.ndarray, files: list[str], known: np.ndarray,
                   settings: ClusterSettings, raw_dir: str | Path | None = None) -> Clustering:
    """Cluster ``features`` as stage 04 does. With ``raw_dir`` (the images) the near-duplicate
    groups are found; with ``settings.deduplicate`` as well, the clustering is fitted on one
    image per group (a labeled one where there is one) and the others get its cluster."""
    preparer = settings.preparer()
    prepared = preparer.fit_transform(features)
    groups, identical = ([], set()) if raw_dir is None else image_duplicates(
        features, files, raw_dir, settings)
    stand_in = np.arange(len(files))               # the image whose cluster each image takes
    if settings.deduplicate:
        for group in groups:
            labeled = [i for i in group if known[i] >= 0]
            stand_in[group] = (labeled or group)[0]
    fitted = np.unique(stand_in)
    model = settings.clusterer().fit(prepared[fitted], known[fitted])
    row = np.searchsorted(fitted, stand_in)
    return Clustering(preparer, prepared, model, model.units_[row], model.labels_[row], groups,
                      identical)


def restart_seeds(settings: ClusterSettings) -> list[int]:
    """The seeds of ``settings.restarts`` fits: ``settings.seed`` first (one restart is the plain
    fit), then seeds :data:`RESTART_SEED_STRIDE` apart, so that the restarts of nearby seeds do
    not share fits."""
    if settings.restarts < 1:
        raise ValueError(f"restarts={settings.restarts}: at least one fit is needed")
    return [settings.seed + RESTART_SEED_STRIDE * restart for restart in range(settings.restarts)]


def fit_most_modular(features: np.ndarray, files: list[str], known: np.ndarray,
                     settings: ClusterSettings, raw_dir: str | Path | None = None,
                     desc: str = "") -> Clustering:
    """:func:`fit_clustering` with each of :func:`restart_seeds`, the fit whose grouping reaches
    the highest modularity kept (the first on a tie): the SOM's draw moves the clusters, and the
    modularity - the criterion that already counts them and chooses the view - tells the better
    draws (docs/experiments.md, 2026-12-05 morning). ``desc``: a progress bar's label (none
    without, or with one draw)."""
    best, best_modularity = None, -np.inf
    seeds = tqdm(restart_seeds(settings), desc=desc, unit="draw", leave=False,
                 disable=not desc or settings.restarts < 2)
    for seed in seeds:                          # one fit held at a time besides the best
        fit = fit_clustering(features, files, known, replace(settings, seed=seed), raw_dir)
        modularity = (highest_modularity(fit.model)
                      if np.isfinite(fit.model.modularity_).any() else -np.inf)
        if best is None or modularity > best_modularity:
            best, best_modularity = fit, modularity
    return best


def write_clustering(result: Clustering, files: list[str], out_dir: str | Path, name: str,
                     review: bool = False) -> dict:
    """Write a fitted clustering (:func:`fit_clustering`) of ``files``: ``<name>.csv`` (file,
    som_node, cluster), ``<name>_k_scores.csv`` and ``<name>_model.pkl`` (preparer + clusterer)
    into ``out_dir``, with ``review`` also the review lists (:func:`write_review_lists`).
    Returns stage 04's summary of it."""
    out_dir = Path(out_dir)
    model = result.model
    counts = write_review_lists(files, result.prepared, result.labels, result.groups,
                                result.identical, out_dir) if review else {}
    atomic_write_csv(out_dir / f"{name}.csv", ("file", "som_node", "cluster"),
                     zip(files, result.units.tolist(), result.labels.tolist()))
    atomic_write_csv(out_dir / f"{name}_k_scores.csv", ("k", "modularity"),
                     [(k, f"{value:.6g}") for k, value in zip(model.k_range_, model.modularity_)])
    atomic_write_bytes(out_dir / f"{name}_model.pkl",
                       pickle.dumps({"preparer": result.preparer, "clusterer": model}))
    refiner = model.refiner_
    open_set = {} if refiner is None else {"open_set": [int(refiner.known_like_.sum()),
                                                        int(refiner.moving_.sum())]}
    return {"images": len(files), "n_clusters": model.n_clusters_, "seed": model.random_state,
            "modularity_k": model.modularity_k_, "grouping_k": model.grouping_k_, **open_set,
            "quantization_error": float(getattr(model.som_, "quantization_error_", np.nan)),
            **counts}


def cluster_feature_set(features: np.ndarray, files: list[str], known: np.ndarray,
                        out_dir: str | Path, name: str, settings: ClusterSettings,
                        raw_dir: str | Path | None = None) -> dict:
    """Cluster ``features`` (:func:`fit_most_modular`) and write it (:func:`write_clustering`;
    with ``raw_dir`` the review lists too)."""
    return write_clustering(fit_most_modular(features, files, known, settings, raw_dir), files,
                            out_dir, name, review=raw_dir is not None)


def cluster_run(feature_dir: Path, run_dir: Path, feature_set: str,
                known_of: Callable[[list[str]], np.ndarray], settings: ClusterSettings,
                raw_dir: str | Path | None = None) -> dict:
    """Stage 04's work: cluster the run's ``feature_set`` (with ``auto`` the fine-tuned and the
    un-fine-tuned features both, the one of the higher modularity kept: :mod:`cluster.view_choice`)
    into ``clusters``, and the un-fine-tuned features alone into :data:`BASELINE` where the run
    has them and was fine-tuned. ``known_of``: the known class of each file (-1: unlabeled).
    Returns {name: summary}; ``clusters`` says which ``feature_set`` it used, whether the
    baseline was clustered and why not where the network was not fine-tuned, how many SOM draws
    each view's clustering was the best of (``restarts``), and where ``auto`` chose (a fine-tuned
    run with the baseline's features) each candidate's ``view_modularity``."""
    fits: dict[str, tuple[Clustering, list[str]]] = {}

    def fitted(view: str) -> tuple[Clustering, list[str]]:
        """(clustering, files) of one view, fitted once: the most modular of the settings'
        restarts (on one image per near-duplicate group with DEDUPLICATE)."""
        if view not in fits:
            features, files = load_feature_set(feature_dir, view)
            if len(files) < 3:
                raise SomclustError(f"only {len(files)} usable images; clustering needs at least 3")
            fits[view] = fit_most_modular(features, files, known_of(files), settings,
                                          raw_dir if settings.deduplicate else None,
                                          desc=f"cluster {view} features"), files
        return fits[view]

    baseline = feature_set != "pretrained" and (feature_dir / "features_pretrained.npy").exists()
    not_fine_tuned = baseline and same_features(feature_dir)
    if not_fine_tuned:                   # no baseline to compare (and none left from before)
        baseline = False
        for name in BASELINE_FILES:
            (run_dir / name).unlink(missing_ok=True)
    used, choice = feature_set, {}
    if used == "auto":               # without the baseline's features: the fine-tuned ones
        choice = {view: highest_modularity(fitted(view)[0].model)
                  for view in (CANDIDATE_VIEWS if baseline else ())}
        used = choose_view(choice) if choice else CANDIDATE_VIEWS[0]
    kept, files = fitted(used)
    if raw_dir is not None and not settings.deduplicate:    # the review lists' groups: the kept
        kept.groups, kept.identical = image_duplicates(      # view's only, found once
            load_feature_set(feature_dir, used)[0], files, raw_dir, settings)
    summary = {"clusters": {**write_clustering(kept, files, run_dir, "clusters", review=True),
                            "feature_set": used, "baseline": baseline,
                            "not_fine_tuned": not_fine_tuned, "restarts": settings.restarts}}
    if choice:
        summary["clusters"]["view_modularity"] = choice
    if baseline:
        summary[BASELINE] = {**write_clustering(*fitted("pretrained"), run_dir, BASELINE),
                             "feature_set": "pretrained"}
    return summary


def write_review_lists(files: list[str], prepared: np.ndarray, labels: np.ndarray,
                       groups: list[list[int]], identical: set[int], out_dir: Path) -> dict:
    """``duplicates.csv`` (group, file, kind: identical or near) and ``outliers.csv`` (file,
    cluster, distance to the cluster's mean in the clustering's space, that over the cluster's
    median; farthest first). Returns the counts."""
    atomic_write_csv(out_dir / "duplicates.csv", ("group", "file", "kind"),
                     [(g, files[i], "identical" if set(group) <= identical else "near")
                      for g, group in enumerate(groups) for i in group])
    distance, ratio = distance_ratios(prepared, labels)
    order = np.argsort(-ratio, kind="stable")
    atomic_write_csv(out_dir / "outliers.csv", ("file", "cluster", "distance", "ratio_to_median"),
                     [(files[i], int(labels[i]), f"{distance[i]:.4f}", f"{ratio[i]:.3f}")
                      for i in order])
    return {"duplicate_groups": len(groups),
            "duplicate_images": sum(len(group) - 1 for group in groups)}
