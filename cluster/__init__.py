"""Stage 04 logic: BatchSOM, prototype grouping and cluster-count prediction."""
from cluster.clusterer import SOMClusterer
from cluster.criteria import hungarian_accuracy
from cluster.som import BatchSOM

__all__ = ["BatchSOM", "SOMClusterer", "hungarian_accuracy"]
