"""Stage 04 logic: BatchSOM, prototype grouping and cluster-count prediction."""
from cluster.n_clusters import SOMClusterer, hungarian_accuracy
from cluster.som import BatchSOM

__all__ = ["BatchSOM", "SOMClusterer", "hungarian_accuracy"]
