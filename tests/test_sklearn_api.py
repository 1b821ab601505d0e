"""scikit-learn's own estimator suite on BatchSOM (a transformer) and SOMClusterer (a clusterer):
they compose with sklearn pipelines, clones and metrics as their docstrings promise."""
from sklearn.utils.estimator_checks import parametrize_with_checks

from cluster.clusterer import SOMClusterer
from cluster.som import BatchSOM


@parametrize_with_checks([BatchSOM(4, 4, n_epochs=3), SOMClusterer(4, 4, 3, k_min=2, k_max=4)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
