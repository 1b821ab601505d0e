import numpy as np
import pytest

from cluster.minisom_adapter import MiniSomEstimator
from cluster.som import BatchSOM


def test_fit_shapes_and_attributes(blobs):
    X, _ = blobs
    som = BatchSOM(5, 7, n_epochs=8, random_state=0).fit(X)
    assert som.weights_.shape == (35, X.shape[1])
    assert som.labels_.shape == (len(X),) and som.labels_.max() < 35
    assert som.transform(X[:4]).shape == (4, 35)
    assert som.hit_map(X).shape == (5, 7) and som.hit_map(X).sum() == len(X)
    assert som.umatrix().shape == (5, 7)
    assert 0.0 <= som.topographic_error(X) <= 1.0
    np.testing.assert_array_equal(som.predict(X), som.labels_)


def test_training_reduces_quantization_error(blobs):
    X, _ = blobs
    untrained = BatchSOM(6, 6, n_epochs=1, sigma_start=3.0, sigma_end=3.0, random_state=0).fit(X)
    trained = BatchSOM(6, 6, n_epochs=15, random_state=0).fit(X)
    assert trained.quantization_error_ < 0.6 * untrained.quantization_error_
    assert trained.quantization_error(X) == pytest.approx(trained.quantization_error_, rel=1e-5)


def test_quantization_error_matches_bruteforce(blobs):
    X, _ = blobs
    som = BatchSOM(4, 4, n_epochs=5, chunk_size=37, random_state=1).fit(X)
    brute = np.linalg.norm(X[:, None, :] - som.weights_[None], axis=2)
    np.testing.assert_array_equal(som.labels_, brute.argmin(axis=1))
    assert som.quantization_error_ == pytest.approx(brute.min(axis=1).mean(), rel=1e-4)


def test_same_seed_same_map(blobs):
    X, _ = blobs
    a = BatchSOM(6, 6, init="random", random_state=3).fit(X)
    b = BatchSOM(6, 6, init="random", random_state=3).fit(X)
    np.testing.assert_array_equal(a.weights_, b.weights_)


def test_subsampled_epochs_learn_the_map_deterministically(blobs):
    X, _ = blobs
    full = BatchSOM(6, 6, n_epochs=10, random_state=0).fit(X)
    mini = BatchSOM(6, 6, n_epochs=10, max_samples=len(X) // 4, random_state=0).fit(X)
    again = BatchSOM(6, 6, n_epochs=10, max_samples=len(X) // 4, random_state=0).fit(X)
    np.testing.assert_array_equal(mini.weights_, again.weights_)
    assert not np.array_equal(mini.weights_, full.weights_)      # it did subsample
    assert mini.quantization_error_ <= full.quantization_error_ * 1.1
    everything = BatchSOM(6, 6, n_epochs=10, max_samples=10 * len(X), random_state=0).fit(X)
    np.testing.assert_array_equal(everything.weights_, full.weights_)


def test_compute_labels_false_skips_the_final_pass(blobs):
    X, _ = blobs
    som = BatchSOM(5, 5, n_epochs=4, compute_labels=False, random_state=0).fit(X)
    assert not hasattr(som, "labels_") and not hasattr(som, "quantization_error_")
    labelled = BatchSOM(5, 5, n_epochs=4, random_state=0).fit(X)
    np.testing.assert_array_equal(som.weights_, labelled.weights_)
    np.testing.assert_array_equal(som.fit_predict(X), labelled.labels_)


def test_prototypes_separate_blobs(blobs):
    X, y = blobs
    som = BatchSOM(8, 8, n_epochs=20, random_state=0).fit(X)
    # each unit should hold samples of (almost) one blob
    purity = sum(np.bincount(y[som.labels_ == u]).max() for u in np.unique(som.labels_)) / len(y)
    assert purity > 0.98


@pytest.mark.parametrize("kwargs, message", [
    ({"n_rows": 0}, "n_rows"), ({"n_epochs": -2}, "n_epochs"), ({"init": "grid"}, "init"),
    ({"sigma_end": 0}, "sigma"), ({"max_samples": 0}, "max_samples"),
])
def test_invalid_parameters(blobs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        BatchSOM(**kwargs).fit(blobs[0])


def test_invalid_inputs(blobs):
    som = BatchSOM(3, 3, n_epochs=2).fit(blobs[0])
    with pytest.raises(ValueError, match="features"):
        som.predict(np.zeros((2, 5)))
    with pytest.raises(ValueError):
        BatchSOM().fit(np.array([[np.nan, 1.0], [1.0, 2.0]]))


def test_minisom_reference_agrees_on_quality(blobs):
    X, _ = blobs
    reference = MiniSomEstimator(6, 6, n_epochs=5, random_state=0).fit(X)
    ours = BatchSOM(6, 6, n_epochs=10, random_state=0).fit(X)
    assert ours.quantization_error_ <= reference.quantization_error_ * 1.1


def test_unit_sums_match_a_plain_scatter_add():
    from cluster.som import add_rows_by_unit

    rng = np.random.default_rng(0)
    rows = rng.random((500, 33), dtype=np.float32)
    units = rng.integers(0, 12, 500)
    sums = np.ones((12, 33), np.float32)
    expected = sums.copy()
    np.add.at(expected, units, rows)
    add_rows_by_unit(rows, units, sums)
    np.testing.assert_allclose(sums, expected, rtol=1e-5)
    add_rows_by_unit(rows[::2], units[::2], sums)             # a strided view: same kernel
    np.add.at(expected, units[::2], rows[::2])
    np.testing.assert_allclose(sums, expected, rtol=1e-5)
