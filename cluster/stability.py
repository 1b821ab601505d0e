"""The ``stability`` cluster-count criterion: how many new classes the unlabeled images hold.

With labeled images of known classes, an unlabeled image looks new when its nearest images hold
(almost) no labeled ones (:func:`cluster.refine.labeled_share`); where labels are too sparse
for that test, also when it lies farther from every labeled image than nearly all labeled images
lie from each other (:func:`far_from_labeled`, a conformal test). The known classes each get one
cluster (label anchoring), so the question left is how many clusters the new-looking images
form. A k that matches real structure gives the same clusters whatever the sample (Ben-Hur et
al. 2002; Hennig 2007): for each k, KMeans is fitted on two random subsamples, both clusterings
are applied to all the images, and each cluster is matched to its most similar cluster of the
other (Jaccard index); the k's stability is the worst cluster's match (median over a few
pairs). One more cluster than there are classes cuts a class in two at a random place, so its
worst match falls to about 0.3-0.5; a whole-dataset index such as the adjusted Rand index hides
that behind the clusters that did not change (0.8-0.9 on separated blobs). Fewer clusters than
classes can also be unstable (5 classes merge into 3 clusters in several equally good ways), so
the answer is the largest stable k (worst match >= a level, Hennig's ``STABLE_JACCARD`` for a
stable cluster), scanning upwards until ``UNSTABLE_RUN`` successive k are unstable after a
stable k >= 2 (far above the answer a chance split can look stable). The number of clusters is
the number of known classes plus that. Without labels, the same scan runs on all images (the
clusterer then lets modularity decide: :class:`cluster.clusterer.SOMClusterer`).

How stable a real class is depends on the features: classes that are semantic rather than
visual (icons by context) are not stable clusters at all, and fine features split a class into
stable sub-clusters. So with labels the level is calibrated on the known classes
(:func:`calibrated_level`): the level of ``LEVELS`` at which the same scan over the labeled
images (labels ignored) counts the known classes right - new classes are taken to be as
separable as the known ones - but never below ``MIN_LEVEL``, where a random cut of one class
would pass for a class of its own.

Finding (almost) no new-looking image is evidence of no new class only where the tests could
have found one. Where labels are sparse this is checked by hiding each known class's labels in
turn (:func:`detection_rate`): when the tests flag less than ``MIN_DETECTION`` of a hidden
class's images (features that barely separate the classes), few flags say nothing, and the
scan runs on all the unlabeled images instead - an overestimate costs the clustering far less
than merging new classes into the known ones.
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors

from cluster.refine import known_class_neighbourhood, labeled_share_test_holds

LOG = logging.getLogger("somclust")
STABLE_JACCARD = 0.75
LEVELS = tuple(round(0.2 + 0.05 * i, 2) for i in range(15))     # 0.20, 0.25, ..., 0.90
MIN_LEVEL = 0.4                   # no lower: a random cut of one class scores about 0.3-0.5
UNSTABLE_RUN = 2
NEW_CLASS_SHARE = 0.5             # labeled-share test of a new-looking image (as ANCHOR_SHARE)
MIN_NEW_SHARE = 0.02              # fewer new-looking images than this share of the unlabeled: none
NOVELTY_ALPHA = 0.1               # level of the conformal distance test (its false-alarm rate)
FLAG_NEIGHBOURS = 10
PAIRS = 10
SUBSAMPLE = 0.8
MAX_ROWS = 5000
MIN_DETECTION = 0.5               # share of a hidden known class the novelty tests must flag


def new_looking(X: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Unlabeled samples whose nearest samples hold less than ``NEW_CLASS_SHARE`` times the
    overall share of labeled samples (:func:`cluster.refine.known_class_neighbourhood`)."""
    labeled = known >= 0
    return ~labeled & (known_class_neighbourhood(X, labeled)[1] < NEW_CLASS_SHARE)


def far_from_labeled(X: np.ndarray, labeled: np.ndarray) -> np.ndarray:
    """Unlabeled samples of new-looking regions, by a conformal novelty test.

    An unlabeled sample is flagged when its distance to the nearest labeled sample exceeds all
    but a share ``NOVELTY_ALPHA`` of the labeled samples' distances to their nearest other
    labeled sample: the labeled samples are a random draw from the known classes, so a sample of
    a known class is flagged with probability about ``NOVELTY_ALPHA``. Nothing is returned when
    no more samples are flagged than that rate explains (``NOVELTY_ALPHA`` x the unlabeled count
    + 3 binomial standard deviations), and a flag is kept only where the sample's
    ``FLAG_NEIGHBOURS`` nearest unlabeled samples are flagged more often than the unlabeled
    samples on average: a chance flag sits among the unflagged samples of its known class (kept,
    such flags formed clusters of their own), a new class's samples among flagged ones.

    Where labels are sparse the labeled-share test needs neighbourhoods wider than a class and
    calls most new samples known; this test needs none (:func:`stability_k` uses it there)."""
    unlabeled = np.flatnonzero(~labeled)
    far = np.zeros(len(X), dtype=bool)
    if labeled.sum() < 2 or len(unlabeled) < 2:
        return far
    index = NearestNeighbors(n_neighbors=1).fit(X[labeled])
    calibration = np.sort(index.kneighbors()[0][:, 0])         # each to its nearest other
    distance = index.kneighbors(X[unlabeled])[0][:, 0]
    exceeded_by = len(calibration) - np.searchsorted(calibration, distance, side="left")
    flagged = (1 + exceeded_by) / (len(calibration) + 1) < NOVELTY_ALPHA
    chance = NOVELTY_ALPHA * len(unlabeled)
    if flagged.sum() <= chance + 3 * np.sqrt(chance * (1 - NOVELTY_ALPHA)):
        return far
    neighbours = NearestNeighbors(n_neighbors=min(FLAG_NEIGHBOURS, len(unlabeled) - 1)).fit(
        X[unlabeled]).kneighbors(return_distance=False)
    far[unlabeled] = flagged & (flagged[neighbours].mean(axis=1) > flagged.mean())
    return far


def worst_cluster_match(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """The smallest, over the clusters of both clusterings (ids 0..k-1), of the Jaccard index
    with the most similar cluster of the other clustering."""
    overlap = np.zeros((k, k))
    np.add.at(overlap, (a, b), 1)
    union = overlap.sum(axis=1)[:, None] + overlap.sum(axis=0)[None, :] - overlap
    jaccard = overlap / np.maximum(union, 1)
    return float(min(jaccard.max(axis=1).min(), jaccard.max(axis=0).min()))


def clustering_stability(X: np.ndarray, k: int, rng: np.random.Generator) -> float:
    """Median, over ``PAIRS`` pairs of KMeans clusterings (``k`` clusters) fitted on two random
    subsamples of ``SUBSAMPLE`` of the rows and applied to all rows, of their worst cluster
    match (:func:`worst_cluster_match`); 1 for k = 1."""
    if k == 1:
        return 1.0
    size = max(k, int(SUBSAMPLE * len(X)))
    matches = []
    for _ in range(PAIRS):
        fits = [KMeans(k, n_init=3, random_state=int(rng.integers(2**31))).fit(
            X[rng.choice(len(X), size, replace=False)]) for _ in range(2)]
        matches.append(worst_cluster_match(fits[0].predict(X), fits[1].predict(X), k))
    return float(np.median(matches))


def largest_stable_k(X: np.ndarray, ks: list[int], seed: int,
                     level: float = STABLE_JACCARD) -> tuple[int | None, list[float]]:
    """(the largest k in ``ks`` whose stability is >= ``level``, or None when there is none; the
    stability of each k in ``ks``, NaN past the point where the scan stopped: ``UNSTABLE_RUN``
    successive unstable k after a stable k >= 2, or k above half the samples)."""
    rng = np.random.default_rng(seed)
    X = _at_most_max_rows(X, rng)
    return _scan([k for k in ks if k <= len(X) // 2], len(ks),
                 lambda k: clustering_stability(X, k, rng), level)


def _at_most_max_rows(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``X``, or a draw of ``MAX_ROWS`` of its rows when it has more."""
    return X[rng.choice(len(X), MAX_ROWS, replace=False)] if len(X) > MAX_ROWS else X


def _scan(ks: list[int], n_scores: int, stability: Callable[[int], float],
          level: float) -> tuple[int | None, list[float]]:
    """The upward scan of :func:`largest_stable_k` over ``ks`` with ``stability(k)``; the scores
    padded with NaN to ``n_scores``."""
    scores = [float("nan")] * n_scores
    chosen, unstable_run = None, 0
    for i, k in enumerate(ks):
        if unstable_run == UNSTABLE_RUN and (chosen or 0) >= 2:
            break
        scores[i] = stability(k)
        if scores[i] >= level:
            chosen, unstable_run = k, 0
        else:
            unstable_run += 1
    return chosen, scores


def calibrated_level(X_labeled: np.ndarray, n_known: int, seed: int) -> float:
    """The stability level at which the scan of :func:`largest_stable_k` over the labeled
    samples (their ``n_known`` classes unknown to it) comes nearest to ``n_known`` clusters:
    of ``LEVELS``, the nearest ``STABLE_JACCARD`` among those that miss by the least, and at
    least ``MIN_LEVEL`` (where the known classes are barely clusters, a lower level lets random
    cuts of the new-looking images count as classes). The
    stability of each k up to ``n_known + UNSTABLE_RUN`` is computed once (on at most
    ``MAX_ROWS`` samples) and the scan replayed at each level. ``STABLE_JACCARD`` when the
    samples are fewer than 2 per cluster at ``n_known``."""
    if n_known < 2 or len(X_labeled) < 2 * n_known:
        return STABLE_JACCARD
    rng = np.random.default_rng(seed)
    X_labeled = _at_most_max_rows(X_labeled, rng)
    ks = list(range(2, min(n_known + UNSTABLE_RUN, len(X_labeled) // 2) + 1))
    curve = {k: clustering_stability(X_labeled, k, rng) for k in ks}

    def miss(level: float) -> int:
        counted = _scan(ks, len(ks), curve.__getitem__, level)[0]
        return abs((counted or 1) - n_known)

    best = min(LEVELS, key=lambda level: (miss(level), abs(level - STABLE_JACCARD)))
    return max(best, MIN_LEVEL)


def stability_k(X: np.ndarray, known: np.ndarray, ks: list[int],
                seed: int) -> tuple[int | None, list[float]]:
    """The ``stability`` criterion over the total cluster counts ``ks``: (its k̂, or None; the
    stability behind each k in ``ks``, NaN where not computed). With labeled samples of >= 2
    classes, k = number of known classes + the number of clusters of the new-looking samples
    (:func:`new_looking`; 0 when fewer than ``MIN_NEW_SHARE`` of the unlabeled samples look
    new), counted at the level the labeled samples give (:func:`calibrated_level`). When the
    labels are too sparse for that test at the k it gives
    (:func:`cluster.refine.labeled_share_test_holds`), the samples far from every labeled one
    (:func:`far_from_labeled`) count as new-looking too, and when still too few look new while
    the tests find less than ``MIN_DETECTION`` of a known class whose labels are hidden
    (:func:`detection_rate`), every unlabeled sample does. Without labeled samples of two
    classes there is no level to calibrate: (None, NaN for every k) - the same scan over all
    samples at Hennig's 0.75 said 2-5 clusters for 8-12 classes on real image features, and the
    clusterer counts by modularity there."""
    classes = np.unique(known[known >= 0])
    if len(classes) < 2:
        return None, [float("nan")] * len(ks)
    level = calibrated_level(X[known >= 0], len(classes), seed)
    LOG.info("stability level %.2f (calibrated on the labeled images of the %d known classes)",
             level, len(classes))
    new = new_looking(X, known)
    k, scores = _known_plus_stable(X, known, new, len(classes), ks, seed, level)
    labeled = known >= 0
    if labeled_share_test_holds(labeled, k or len(classes)):
        return k, scores
    new |= far_from_labeled(X, labeled)
    if _too_few_new(new, labeled) and detection_rate(X, known, seed) < MIN_DETECTION:
        LOG.info("few unlabeled images look new, but the novelty tests find too little of a "
                 "known class whose labels are hidden to tell; counting the clusters of all the "
                 "unlabeled images")
        new = ~labeled
    return _known_plus_stable(X, known, new, len(classes), ks, seed, level)


def sparse_label_flags(X: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Unlabeled samples that look new by either test: :func:`new_looking` or
    :func:`far_from_labeled`."""
    return new_looking(X, known) | far_from_labeled(X, known >= 0)


def detection_rate(X: np.ndarray, known: np.ndarray, seed: int) -> float:
    """How much of a class without labels the novelty tests find: each known class's labels
    hidden in turn, the share of its labeled samples flagged (:func:`sparse_label_flags`),
    averaged over the classes (on at most ``MAX_ROWS`` samples: every labeled one and a seeded
    draw of the others)."""
    labeled = np.flatnonzero(known >= 0)
    others = np.flatnonzero(known < 0)
    room = max(MAX_ROWS - len(labeled), 0)
    if len(others) > room:
        others = np.random.default_rng(seed).choice(others, room, replace=False)
    rows = np.sort(np.concatenate([labeled, others]))
    X, known = X[rows], known[rows]
    rates = []
    for label in np.unique(known[known >= 0]):
        hidden = known == label
        rates.append(sparse_label_flags(X, np.where(hidden, -1, known))[hidden].mean())
    return float(np.mean(rates))


def _too_few_new(new: np.ndarray, labeled: np.ndarray) -> bool:
    """Fewer new-looking samples than ``MIN_NEW_SHARE`` of the unlabeled ones (and than 2)."""
    return new.sum() < max(2, MIN_NEW_SHARE * (~labeled).sum())


def _known_plus_stable(X: np.ndarray, known: np.ndarray, new: np.ndarray, n_known: int,
                       ks: list[int], seed: int, level: float) -> tuple[int | None, list[float]]:
    """``n_known`` + the largest k at which the ``new`` samples are stable at ``level`` (see
    :func:`stability_k`)."""
    if _too_few_new(new, known >= 0):
        return (n_known if n_known in ks else None), [float("nan")] * len(ks)
    extra = [k - n_known for k in ks if k > n_known]
    k_new, stability = largest_stable_k(X[new], extra, seed, level)
    by_total = dict(zip([n_known + e for e in extra], stability))
    return (None if k_new is None else n_known + k_new), [by_total.get(k, float("nan"))
                                                          for k in ks]
