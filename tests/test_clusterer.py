import numpy as np
import pytest

from cluster.clusterer import SOMClusterer, fitting_rows
from cluster.criteria import (graph_rows, hungarian_accuracy, knn_graph, labeled_share_count,
                              modularity, modularity_k, nearest_k)
from cluster.features import FeaturePreparer, neighbour_average, signed_sqrt


def test_hungarian_accuracy_is_permutation_invariant():
    assert hungarian_accuracy([0, 0, 1, 1, 2], [5, 5, 3, 3, 9]) == 1.0
    assert hungarian_accuracy([0, 0, 1, 1], [0, 0, 0, 0]) == 0.5


def _two_cliques_and_a_bridge() -> tuple[np.ndarray, np.ndarray]:
    """Points of two tight groups of 5, far apart: their 4-nearest-neighbour graph is two
    cliques (no link across)."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 0.01, (5, 2)), rng.normal(5, 0.01, (5, 2))])
    return X, np.repeat([0, 1], 5)


def test_modularity_of_the_nearest_neighbour_graph():
    X, halves = _two_cliques_and_a_bridge()
    graph = knn_graph(X, n_neighbours=4)
    assert (graph != graph.T).nnz == 0 and graph.diagonal().sum() == 0
    assert graph[:5, 5:].nnz == 0 and graph[:5, :5].nnz == 20     # each group a clique
    assert modularity(graph, halves) == pytest.approx(0.5)       # two equal halves, no link across
    assert modularity(graph, np.zeros(10, int)) == pytest.approx(0.0)
    assert modularity(graph, halves) > modularity(graph, np.arange(10) % 2)
    assert len(graph_rows(9000, seed=0)) == 5000 and list(graph_rows(6, seed=0)) == list(range(6))
    twins = knn_graph(np.repeat(X, 2, axis=0), n_neighbours=3)      # every row twice
    assert twins.diagonal().sum() == 0 and (twins.sum(axis=1) >= 3).all()


def test_modularity_k_takes_the_best_k_and_the_larger_on_a_tie():
    assert modularity_k({2: 0.3, 3: 0.5, 4: 0.4, 5: 0.5}) == 5
    assert modularity_k({3: 0.1}) == 3


def test_labeled_share_count_reads_merged_classes_from_the_labeled_shares():
    # known classes 0-2 in clusters 0-2 with 10 % labeled; class 3's cluster holds 300 samples,
    # 10 labeled (3 classes); cluster 4 holds none (1 class)
    sizes, marked = [200, 300, 100, 300, 150], [20, 30, 10, 10, 0]
    labels = np.repeat(np.arange(5), sizes)
    known = np.concatenate([np.where(np.arange(n) < m, c, -1)
                            for c, (n, m) in enumerate(zip(sizes, marked))])
    assert labeled_share_count(labels, known) == 1 + 1 + 1 + 3 + 1
    assert labeled_share_count(labels, np.where(labels == 0, known, -1)) is None   # one class
    assert labeled_share_count(labels, np.full(len(labels), -1)) is None
    # a stray labeled sample of class 0 in cluster 4 does not make it a known class's cluster
    strays = known.copy()
    strays[labels == 4] = [0] + [-1] * 149
    assert labeled_share_count(labels, strays) == 1 + 1 + 1 + 3 + 1
    # 1 labeled of 30 where 3 are expected: a third of the share, but as often by chance as
    # 1 draw in 6 (binomial), so one class
    few = np.repeat([0, 1, 2], [100, 100, 30])
    few_known = np.concatenate([np.where(np.arange(100) < 10, 0, -1),
                                np.where(np.arange(100) < 10, 1, -1),
                                np.where(np.arange(30) < 1, 2, -1)])
    assert labeled_share_count(few, few_known) == 3


def test_nearest_k_prefers_the_higher_modularity_between_two_as_near():
    assert nearest_k({4: 0.2, 5: 0.1, 7: 0.3}, 6) == 7
    assert nearest_k({4: 0.2, 5: 0.1, 7: 0.3}, 2) == 4
    assert nearest_k({4: 0.2, 5: 0.1, 7: 0.3}, 5) == 5


def test_a_new_class_beside_a_known_one_is_counted_by_the_labeled_shares():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=8.0, size=(5, 16))
    centers = np.vstack([centers, centers[0] + 0.75 * rng.normal(size=16)])  # beside class 0
    y = np.repeat(np.arange(6), 80)
    X = (centers[y] + rng.normal(size=(len(y), 16))).astype(np.float32)
    known = np.where((y < 3) & (np.arange(len(y)) % 5 == 0), y, -1)       # 20 % of 3 classes
    model = SOMClusterer(8, 8, n_epochs=15, k_max=10, anchor_share=0.5, refine_iter=30,
                         vote_rounds=30, smooth_neighbours=5, random_state=0).fit(X, known)
    # the graph's modularity merges the new class into class 0; the cluster holding both has
    # half the labeled share of the others, so it counts as two classes
    assert model.modularity_k_ == 5
    assert model.n_clusters_ == 6 and hungarian_accuracy(y, model.labels_) > 0.95
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    unlabeled = SOMClusterer(8, 8, n_epochs=15, k_max=10, random_state=0).fit(X)
    assert unlabeled.n_clusters_ == unlabeled.modularity_k_       # no labels: the modularity's


@pytest.mark.parametrize("labeled", [True, False])
def test_predicts_k_on_separated_blobs_with_labels_or_without(blobs, labeled):
    X, y = blobs
    known = np.where((y < 3) & (np.arange(len(y)) % 2 == 0), y, -1)  # half of 3 classes labeled
    model = SOMClusterer(8, 8, n_epochs=15, k_min=2, k_max=10, random_state=0).fit(
        X, known if labeled else None)
    assert model.n_clusters_ == 6
    assert hungarian_accuracy(y, model.labels_) > 0.97
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert len(model.modularity_) == len(model.k_range_)
    assert model.k_range_[int(np.nanargmax(model.modularity_))] == 6


def test_same_seed_same_clusters(blobs):
    X, y = blobs
    a = SOMClusterer(6, 6, k_max=8, random_state=4).fit(X, y).labels_
    b = SOMClusterer(6, 6, k_max=8, random_state=4).fit(X, y).labels_
    np.testing.assert_array_equal(a, b)


def test_fewer_samples_than_units_cap_k_below_the_sample_count():
    X = np.random.default_rng(0).normal(size=(9, 8)).astype(np.float32)
    known = np.array([0, 0, 1, 1, -1, -1, -1, -1, -1])
    model = SOMClusterer(5, 5, 5, random_state=0).fit(X, known)
    assert model.k_range_[-1] <= 8 and 2 <= model.n_clusters_ <= 8


def test_rejects_inverted_k_range(blobs):
    with pytest.raises(ValueError, match="k_min"):
        SOMClusterer(k_min=9, k_max=3).fit(blobs[0])


def test_anchor_units_ties_units_rich_in_labeled_images_to_their_majority_class():
    from cluster.grouping import anchor_units

    units = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3])
    known = np.array([1, 1, 2, -1, 2, -1, -1, -1, -1, -1, -1, -1, 1, -1])
    # overall labeled share 5/14; unit 1 has 1/4 = 0.7x it, unit 2 none
    np.testing.assert_array_equal(anchor_units(units, known, 5, 0.5), [1, 2, -1, 1, -1])
    np.testing.assert_array_equal(anchor_units(units, known, 5, 1.0), [1, -1, -1, 1, -1])
    assert (anchor_units(units, known, 5, 0.0) == -1).all()
    one_class = np.where(known == 1, 1, -1)
    assert (anchor_units(units, one_class, 5, 0.5) == -1).all()


def test_anchored_ward_never_merges_known_classes_and_lets_free_units_join_them():
    from cluster.grouping import anchored_ward

    weights = np.array([[0, 0], [50, 50], [10, 0], [10.5, 0], [100, 0], [100, 0.4], [10, 0.2],
                        [50, 51]], dtype=float)
    hits = np.array([5, 5, 5, 5, 5, 5, 0, 5])
    owner = np.array([3, 3, 1, -1, -1, -1, -1, -1])   # class 3: two distant units; class 1
    partitions = anchored_ward(weights, hits, owner, [2, 3, 4, 9])
    assert set(partitions) == {2, 3, 4}
    three = partitions[3]
    assert three[0] == three[1] == three[7]           # a free unit joins the known class next to it
    assert three[2] == three[3] != three[0]           # ... and the other known class
    assert three[4] == three[5] not in (three[0], three[2])
    assert three[6] == three[2]                       # no hits: joins the nearest unit
    two = partitions[2]
    assert two[0] != two[2] and len(set(two)) == 2    # known classes stay apart
    assert len(set(partitions[4])) == 4
    assert set(anchored_ward(weights, hits, owner, [1])) == {2}   # as far as it gets


def test_anchoring_keeps_a_two_mode_known_class_in_one_cluster(blobs):
    X, y = blobs
    merged = np.where(y == 1, 0, y)                     # known class 0 = blobs 0 and 1
    known = np.where((merged <= 2) & (np.arange(len(y)) % 2 == 0), merged, -1)
    anchored = SOMClusterer(8, 8, n_epochs=15, k_max=10, anchor_share=0.5,
                            random_state=0).fit(X, known)
    assert anchored.n_clusters_ == 5
    assert hungarian_accuracy(merged, anchored.labels_) > 0.97
    np.testing.assert_array_equal(anchored.predict(X), anchored.labels_)
    free = SOMClusterer(8, 8, n_epochs=15, k_max=10, random_state=0).fit(X, known)
    assert len(np.unique(free.labels_[merged == 0])) == 2
    sparse = np.where((merged <= 2) & (np.arange(len(y)) % 10 == 0), merged, -1)   # 10% labeled
    few = SOMClusterer(8, 8, n_epochs=15, k_max=10, anchor_share=0.5, random_state=0).fit(X, sparse)
    assert few.n_clusters_ == 5 and hungarian_accuracy(merged, few.labels_) > 0.97
    with pytest.raises(ValueError, match="anchor_share"):
        SOMClusterer(anchor_share=-1).fit(X)


def test_fitting_rows_keep_every_unlabeled_sample_and_cap_each_known_class():
    known = np.array([-1] * 5 + [0] * 10 + [1] * 3)
    rows = fitting_rows(known, 4, seed=0)
    assert set(range(5)) <= set(rows.tolist())
    assert np.bincount(known[rows][known[rows] >= 0]).tolist() == [4, 3]
    np.testing.assert_array_equal(rows, np.sort(rows))
    np.testing.assert_array_equal(rows, fitting_rows(known, 4, seed=0))
    np.testing.assert_array_equal(fitting_rows(known, 0, seed=0), np.arange(len(known)))


def test_capped_labeled_samples_fit_the_map_and_the_rest_are_assigned():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=8.0, size=(6, 16))
    y = np.concatenate([np.repeat(np.arange(6), 80), np.repeat(np.arange(3), 1500)])
    known = np.where(np.arange(len(y)) >= 480, y, -1)     # 1,500 labeled of each of 3 classes
    X = (centers[y] + rng.normal(size=(len(y), 16))).astype(np.float32)
    model = SOMClusterer(8, 8, n_epochs=15, k_max=10, anchor_share=0.5, refine_iter=20,
                         max_labeled_per_class=80, random_state=0).fit(X, known)
    assert len(model.fit_rows_) == 480 + 3 * 80
    assert model.labels_.shape == model.units_.shape == (len(X),)
    assert model.n_clusters_ == 6 and hungarian_accuracy(y, model.labels_) > 0.99
    left_out = np.setdiff1d(np.arange(len(X)), model.fit_rows_)
    np.testing.assert_array_equal(model.labels_[left_out], model.predict(X[left_out]))
    np.testing.assert_array_equal(model.units_, model.som_.predict(X))
    with pytest.raises(ValueError, match="max_labeled_per_class"):
        SOMClusterer(max_labeled_per_class=-1).fit(X, known)


def test_left_out_samples_are_averaged_and_voted_alone_as_new_ones():
    rng = np.random.default_rng(1)
    centers = rng.normal(scale=6.0, size=(5, 12))
    y = np.concatenate([np.repeat(np.arange(5), 60), np.repeat(np.arange(2), 400)])
    known = np.where(np.arange(len(y)) >= 300, y, -1)
    X = (centers[y] + rng.normal(size=(len(y), 12))).astype(np.float32)
    model = SOMClusterer(6, 6, n_epochs=10, k_max=8, anchor_share=0.5, refine_iter=10,
                         vote_rounds=30, smooth_neighbours=5, max_labeled_per_class=40,
                         random_state=0)
    searched = []
    original = model.average
    model.average = lambda rows: searched.append(len(rows)) or original(rows)
    model.fit(X, known)
    left_out = np.setdiff1d(np.arange(len(X)), model.fit_rows_)
    assert searched == [len(left_out)] == [800 - 80]           # the fitted rows are not redone
    fit_rows = model.fit_rows_
    np.testing.assert_array_equal(model.units_[fit_rows], model.som_.labels_)
    np.testing.assert_array_equal(model.units_[fit_rows],              # as all rows once gave
                                  model.som_.predict(original(X[fit_rows])))
    np.testing.assert_array_equal(model.units_[left_out], model.som_.predict(original(X[left_out])))
    np.testing.assert_array_equal(model.labels_[left_out], model.predict(X[left_out]))
    np.testing.assert_array_equal(model.labels_[fit_rows], model.vote_.labels_)


def test_preparer_takes_the_signed_square_root_then_l2_then_pca():
    rng = np.random.default_rng(0)
    X = rng.gamma(0.3, size=(40, 12)).astype(np.float32)      # bursty, non-negative like pooled CNN
    X[0, 0] = -4.0
    np.testing.assert_allclose(signed_sqrt(np.array([-4.0, 0.0, 9.0])), [-2.0, 0.0, 3.0])
    preparer = FeaturePreparer(0)
    rooted = np.sign(X) * np.sqrt(np.abs(X))
    expected = rooted / np.linalg.norm(rooted, axis=1, keepdims=True)
    np.testing.assert_allclose(preparer.fit_transform(X), expected, rtol=1e-6)
    with_pca = FeaturePreparer(5, random_state=0)
    fitted = with_pca.fit_transform(X)
    assert fitted.shape == (40, 5) and fitted.dtype == np.float32
    np.testing.assert_allclose(with_pca.transform(X), fitted, rtol=1e-4, atol=1e-6)


def test_a_preparer_saved_before_the_square_root_prepares_without_it():
    X = np.random.default_rng(1).gamma(0.3, size=(30, 8)).astype(np.float32)
    saved = FeaturePreparer(0)
    saved.fit_transform(X)
    del saved.signed_sqrt_                              # as unpickled from an older run
    np.testing.assert_allclose(saved.transform(X), X / np.linalg.norm(X, axis=1, keepdims=True),
                               rtol=1e-6)


def test_neighbour_average_pulls_each_class_together_around_the_same_centre():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 50)
    X = (6.0 * y[:, None] + rng.normal(size=(100, 4))).astype(np.float32)
    averaged = neighbour_average(X, X, 5)

    def spread(Z):
        return np.mean([Z[y == c].std(axis=0).mean() for c in (0, 1)])

    assert averaged.dtype == np.float32 and spread(averaged) < 0.85 * spread(X)
    for c in (0, 1):
        np.testing.assert_allclose(averaged[y == c].mean(axis=0), X[y == c].mean(axis=0), atol=0.2)
    np.testing.assert_array_equal(neighbour_average(X, X, 0), X)


def test_neighbour_average_of_new_rows_uses_the_reference_and_a_reference_row_skips_itself():
    reference = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(neighbour_average(np.array([[0.2, 0.0]]), reference, 2),
                               [[0.35, 0.0]])
    # 5 neighbours asked, 2 other rows there: the far row moves halfway to their mean
    np.testing.assert_allclose(neighbour_average(reference, reference, 5)[2], [5.25, 0.0])
    np.testing.assert_allclose(neighbour_average(reference[:1], reference, 1), [[0.5, 0.0]])


def test_neighbour_averaging_clusters_the_averaged_features_and_counts_on_the_given_ones(
        blobs, monkeypatch):
    X, y = blobs
    known = np.where((y < 3) & (np.arange(len(y)) % 2 == 0), y, -1)
    settings = dict(k_max=10, anchor_share=0.5, refine_iter=10, random_state=0)
    plain = SOMClusterer(8, 8, 15, **settings).fit(X, known)
    graphed = []
    monkeypatch.setattr("cluster.clusterer.knn_graph", lambda rows, **kw: graphed.append(rows)
                        or knn_graph(rows, **kw))
    averaged = SOMClusterer(8, 8, 15, smooth_neighbours=10, **settings).fit(X, known)
    np.testing.assert_array_equal(graphed[0], X[graph_rows(len(X), 0)])    # as given
    assert averaged.n_clusters_ == 6 and hungarian_accuracy(y, averaged.labels_) > 0.97
    assert not np.allclose(averaged.som_.weights_, plain.som_.weights_)
    np.testing.assert_array_equal(averaged.predict(X), averaged.labels_)
    np.testing.assert_array_equal(averaged.som_.predict(averaged.average(X)), averaged.units_)
    with pytest.raises(ValueError, match="smooth_neighbours"):
        SOMClusterer(smooth_neighbours=-1).fit(X)


def test_stage_04_says_how_k_was_chosen():
    from somclust.stages.cluster_features import count_reason

    assert count_reason({"n_clusters": 8, "modularity_k": 8, "grouping_k": 8}) == \
        "highest modularity"
    assert count_reason({"n_clusters": 11, "modularity_k": 8, "grouping_k": 11}) == \
        "labeled shares; the highest modularity gave 8"
    assert count_reason({"n_clusters": 9}) == "highest modularity"       # a record from before


def test_stage_04_says_what_the_open_set_refinement_did(tmp_path):
    """The record of each clustering holds the refinement's two counts (unlabeled images given
    to a known class, and to the others), and stage 04 prints them on that clustering's line."""
    from cluster.run import ClusterSettings, cluster_feature_set
    from somclust.stages.cluster_features import open_set_note

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 200)
    X = (rng.normal(scale=5.0, size=(4, 8))[y] + rng.normal(size=(800, 8))).astype(np.float32)
    known = np.where((y < 2) & (np.arange(800) % 2 == 0), y, -1)     # half of classes 0 and 1
    settings = ClusterSettings(som_rows=4, som_cols=4, som_epochs=10, feature_pca=0, k_min=2,
                               k_max=8, anchor_share=0.5, refine_iter=10, seed=0)
    part = cluster_feature_set(np.abs(X), [f"{i}.png" for i in range(800)], known, tmp_path,
                               "clusters", settings)
    known_like, others = part["open_set"]                  # 200 unlabeled of known classes
    assert known_like + others == (known < 0).sum() and 160 <= known_like <= 240
    assert open_set_note(part) == (f"; open-set refinement: {known_like} unlabeled images to "
                                   f"a known class, {others} to the others")
    assert open_set_note({"n_clusters": 3}) == ""          # not run, or a record from before
