"""somclust's Python API: run the pipeline and assign new images to its clusters."""
from somclust.api import Pipeline, predict, run
from somclust.prediction import Prediction

__all__ = ["Pipeline", "Prediction", "predict", "run"]
