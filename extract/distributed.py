"""Feature extraction on a Ray cluster: a pool of actors, each holding one copy of the model.

Actors read and decode their batches themselves (the image and model paths must be visible on
every node, e.g. a shared file system); the driver receives the features of each batch in order
and writes them, so the output and the resume points are those of a local run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from common.parallel import connect_ray, submitted_ahead
from extract.features import Batch


class FeatureActor:
    """Loads a saved Keras model (or its OpenVINO IR) once, then turns batches of image paths
    into features."""

    def __init__(self, model_path: str, layer_name: str, precision: str, image_size: int,
                 threads: int, max_side: int = 0, openvino_xml: str = ""):
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        self.image_size, self.max_side = image_size, max_side
        if openvino_xml:
            from extract.runtime import openvino_predictor

            self.predict = openvino_predictor(openvino_xml, precision, threads)
            return
        import keras

        from finetune.backbones import feature_extractor

        self.predict = feature_extractor(keras.models.load_model(model_path), layer_name,
                                         precision).predict_on_batch

    def extract(self, paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(features (n, dim) float32, valid (n,) bool) of one batch; unreadable images are
        zeros and marked invalid."""
        from extract.features import load_images

        pixels, valid = load_images([Path(p) for p in paths], self.image_size, self.max_side)
        return np.asarray(self.predict(pixels), np.float32), valid


class RayExtractor:
    """A :data:`extract.features.BatchExtractor` of one network running on Ray: one actor per
    ``actor_cpus`` CPUs of the cluster, each with up to ``queue_depth`` batches queued, results
    in order. The network's features serve ``outputs`` outputs (feature files made by the same
    network: computed once per batch)."""

    def __init__(self, model_path: str | Path, layer_name: str, precision: str, image_size: int,
                 ray_address: str, actor_cpus: int = 2, queue_depth: int = 2,
                 max_side: int = 0, openvino_xml: Path | None = None, outputs: int = 1):
        self.ray = connect_ray(ray_address)
        cpus = max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        actor_cpus = min(actor_cpus, cpus)          # an actor larger than the cluster never starts
        actor = self.ray.remote(num_cpus=actor_cpus)(FeatureActor)
        self.actors = [actor.remote(str(Path(model_path).resolve()), layer_name, precision,
                                    image_size, actor_cpus, max_side,
                                    str(Path(openvino_xml).resolve()) if openvino_xml else "")
                       for _ in range(max(1, cpus // actor_cpus))]
        self.queue_depth, self.outputs = queue_depth, outputs

    def __call__(self, batches: Sequence[Batch]) -> Iterator[tuple[list[np.ndarray], np.ndarray]]:
        def submit(numbered: tuple[int, Batch]):
            number, (paths, networks) = numbered
            if not networks or not set(networks) <= set(range(self.outputs)):
                raise ValueError(f"a RayExtractor gives outputs 0-{self.outputs - 1}, not "
                                 f"{networks}")
            actor = self.actors[number % len(self.actors)]
            return actor.extract.remote([str(Path(p).resolve()) for p in paths])

        for (_, networks), reference in zip(batches, submitted_ahead(
                enumerate(batches), submit, len(self.actors) * self.queue_depth)):
            features, valid = self.ray.get(reference)
            yield [features] * len(networks), valid

    def close(self) -> None:
        """Stop the actors (their models leave memory)."""
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
