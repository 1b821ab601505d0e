"""Stage 03 over a run: the fine-tuned (and un-fine-tuned) network's features of every image."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from common.errors import SomclustError
from common.run_index import load_run_index
from common.stage import file_signature, read_record
from config import Config
from finetune.image_source import read_image_source, with_source
from extract.features import MODEL_FILES, LocalExtractor, extract_feature_files
from extract.runtime import converted_network, network_predictor, openvino_path, precision_on


def model_key(config: Config, name: str, runtime: str) -> str:
    """What the features of ``name`` depend on besides the image: cached rows made with another
    model, image size, layer, precision or runtime are not reused."""
    settings = config.fingerprint(("IMAGE_SIZE", "WORK_MAX_SIDE", "FEATURE_LAYER"))
    settings["EXTRACT_PRECISION"] = precision_on(runtime, config.EXTRACT_PRECISION)
    settings["runtime"] = runtime
    settings["image_source"] = read_image_source(config.run_dir)
    if name == "features":           # the fine-tuned weights, rewritten when 02 re-runs
        settings["model"] = file_signature(config.run_dir / "model" / MODEL_FILES[name])
    else:                            # rebuilt by stage 03 from the backbone, its weights and seed
        settings.update(config.fingerprint(("BACKBONE", "WEIGHTS", "SEED")))
        if Path(config.WEIGHTS).is_file():
            settings["weights_file"] = file_signature(Path(config.WEIGHTS))
    return json.dumps(settings, sort_keys=True)


def _make_network(config: Config, load_model: Callable) -> Callable[[str], object]:
    """``precision`` -> the Keras feature extractor of the model ``load_model()`` returns."""
    from finetune.backbones import feature_extractor

    return lambda precision: feature_extractor(load_model(), config.FEATURE_LAYER, precision)


def _openvino_ir(config: Config, name: str) -> Path:
    """Where the OpenVINO IR of feature file ``name``'s network is cached."""
    return openvino_path(config.run_dir / "model", name, model_key(config, name, "openvino"))


Used = dict[str, tuple[str, Path | None]]       # feature file -> (runtime, OpenVINO IR or None)


def _by_network(models: dict[str, Callable]) -> dict[Callable, list[str]]:
    """The feature files grouped by the network (model loader) that makes them, in order."""
    groups: dict[Callable, list[str]] = {}
    for name, load_model in models.items():
        groups.setdefault(load_model, []).append(name)
    return groups


def _extract_on_ray(config: Config, models: dict[str, Callable], files: list[str],
                    paths: list[Path], out_dir: Path) -> tuple[dict, Used]:
    """Each network a pass of its own on Ray actors loading its saved model (or IR); a network
    given for two feature files runs once for both."""
    from extract.distributed import RayExtractor

    summary, used = {}, {}
    for load_model, names in _by_network(models).items():
        network = _make_network(config, load_model)
        converted = (converted_network(network, _openvino_ir(config, names[0]))  # for the actors
                     if config.EXTRACT_RUNTIME == "openvino" else None)
        runtime = "openvino" if converted else "keras"
        used.update((name, (runtime, converted)) for name in names)
        extractor = RayExtractor(config.run_dir / "model" / MODEL_FILES[names[0]],
                                 config.FEATURE_LAYER,
                                 precision_on(runtime, config.EXTRACT_PRECISION),
                                 config.IMAGE_SIZE, config.RAY_ADDRESS,
                                 config.EXTRACT_ACTOR_CPUS, max_side=config.WORK_MAX_SIDE,
                                 openvino_xml=converted, outputs=len(names))
        try:
            summary.update(extract_feature_files(
                extractor, files, paths, out_dir,
                {name: model_key(config, name, runtime) for name in names},
                config.EXTRACT_BATCH_SIZE))
        finally:
            extractor.close()
    return summary, used


def _extract_here(config: Config, models: dict[str, Callable], files: list[str],
                  paths: list[Path], out_dir: Path) -> tuple[dict, Used]:
    """Every network in this process on EXTRACT_RUNTIME (falling back to Keras), in one pass:
    each image decoded once for all of them, and a network given for two feature files run
    once."""
    predictors = {}
    for load_model, names in _by_network(models).items():
        predictor = network_predictor(_make_network(config, load_model), config.EXTRACT_RUNTIME,
                                      config.EXTRACT_PRECISION, _openvino_ir(config, names[0]))
        predictors.update((name, predictor) for name in names)
    extractor = LocalExtractor([predict for predict, _, _ in predictors.values()],
                               config.IMAGE_SIZE, config.EXTRACT_LOADER_THREADS,
                               config.WORK_MAX_SIDE)
    summary = extract_feature_files(
        extractor, files, paths, out_dir,
        {name: model_key(config, name, runtime) for name, (_, runtime, _) in predictors.items()},
        config.EXTRACT_BATCH_SIZE)
    return summary, {name: (runtime, ir) for name, (_, runtime, ir) in predictors.items()}


def extract_run(config: Config) -> dict:
    """Extract ``features`` (fine-tuned network) and, with EXTRACT_BASELINE, ``features_pretrained``
    (the backbone before fine-tuning, saved beside it) for every processed image, in the version
    (background removed or raw) stage 02 chose. In this process each image is decoded once for
    both networks; with RAY_ADDRESS each network is a pass of its own on the Ray actors."""
    import keras

    from finetune.backbones import build_backbone
    from finetune.train import is_kept_backbone, save_model_atomically, set_determinism

    model_dir = config.run_dir / "model"
    model_path = model_dir / MODEL_FILES["features"]
    if not model_path.exists():
        raise SomclustError(f"{model_path} not found: run 02_finetune.py first")
    record = read_record(config.run_dir, "02_finetune")
    trained = record.get("fingerprint", {})
    if trained.get("IMAGE_SIZE", config.IMAGE_SIZE) != config.IMAGE_SIZE:
        raise SomclustError(f"{model_path} was fine-tuned on {trained['IMAGE_SIZE']} px images, "
                            f"not IMAGE_SIZE={config.IMAGE_SIZE}: run 02_finetune.py with "
                            "the same IMAGE_SIZE first")
    records = with_source(load_run_index(config.work_dir, config.IMG_DIR, config.RAW_DIR,
                                         config.RAW_COPY_DIR), read_image_source(config.run_dir))
    files, paths = [r.file for r in records], [r.image_path for r in records]
    models = {"features": lambda: keras.models.load_model(model_path)}
    if config.EXTRACT_BASELINE:
        set_determinism(config.SEED)
        untuned = build_backbone(config.BACKBONE, config.WEIGHTS, config.IMAGE_SIZE)
        save_model_atomically(untuned, model_dir / MODEL_FILES["features_pretrained"])
        # stage 02 kept the backbone as it is (FT_EPOCHS=0, or a draft round or run without
        # labels of two classes): the network stage 03 builds here, so it runs once for both
        kept = is_kept_backbone(model_dir, config.BACKBONE, config.WEIGHTS, config.IMAGE_SIZE,
                                config.SEED)
        models["features_pretrained"] = models["features"] if kept else lambda: untuned
    extract = _extract_on_ray if config.RAY_ADDRESS else _extract_here
    summary, used = extract(config, models, files, paths, config.run_dir / "features")
    for name, (runtime, converted) in used.items():
        summary[name].update(runtime=runtime,
                             precision=precision_on(runtime, config.EXTRACT_PRECISION),
                             openvino_model=(str(converted.relative_to(config.run_dir))
                                             if converted else ""))
    return summary
