"""Where the feature network runs: OpenVINO (the Keras network converted, faster on CPUs) or Keras.

Stage 03 converts each network it extracts with once (``keras.Model.export(format="openvino")``)
and keeps the IR (``.xml`` + ``.bin``) in ``RUN_DIR/model/openvino/``, named after a digest of
what the network's features depend on; stage 07 and the Ray actors load that file. Precision is a
compile-time hint: ``EXTRACT_PRECISION=auto`` (the default) is bfloat16 on OpenVINO where the CPU
computes it natively (AVX512-BF16 or AMX, where OpenVINO itself defaults to it) and float32
everywhere else (:func:`precision_on`). When OpenVINO is not installed or the conversion fails,
the network runs in Keras and one logged line says why.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

LOG = logging.getLogger("somclust")
OPENVINO_PRECISION = {"float32": "f32", "bfloat16": "bf16"}
Predict = Callable[[np.ndarray], np.ndarray]


@functools.cache
def native_bfloat16() -> bool:
    """Whether OpenVINO computes bfloat16 natively on this machine's CPU (False without OpenVINO)."""
    try:
        import openvino as ov

        return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - no answer means no native bfloat16
        return False


def precision_on(runtime: str, precision: str) -> str:
    """The precision a network runs in on ``runtime``: ``precision``, or for ``auto`` bfloat16 on
    OpenVINO where the CPU computes it natively (:func:`native_bfloat16`), else float32 (Keras's
    bfloat16 is slower than its float32 for EfficientNet-Lite0). OpenVINO runs a bfloat16 hint in
    float32 on a CPU without native bfloat16, so float32 is what it gives (and records) there."""
    if precision == "auto" or (precision == "bfloat16" and runtime == "openvino"):
        return "bfloat16" if runtime == "openvino" and native_bfloat16() else "float32"
    return precision


def openvino_path(model_dir: Path, name: str, key: str) -> Path:
    """Where the IR of network ``name`` with feature key ``key`` is cached."""
    return Path(model_dir) / "openvino" / f"{name}_{hashlib.sha1(key.encode()).hexdigest()[:12]}.xml"


def convert_to_openvino(network, xml_path: Path) -> Path:
    """Export a Keras ``network`` as OpenVINO IR at ``xml_path`` (reused when it is there).

    Written in a temporary folder, then moved: the ``.bin`` first, the ``.xml`` last, so an
    ``.xml`` always has its weights. Older IRs of the same network name are removed.
    """
    xml_path = Path(xml_path)
    if xml_path.exists():
        return xml_path
    partial = xml_path.parent / f".{xml_path.stem}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    network.export(str(partial / "model.xml"), format="openvino", verbose=False)
    name = xml_path.stem.rsplit("_", 1)[0]
    for stale in xml_path.parent.iterdir():
        if stale.suffix in (".xml", ".bin") and stale.stem.rsplit("_", 1)[0] == name:
            stale.unlink()
    os.replace(partial / "model.bin", xml_path.with_suffix(".bin"))
    os.replace(partial / "model.xml", xml_path)
    shutil.rmtree(partial)
    return xml_path


def openvino_predictor(xml_path: str | Path, precision: str = "float32",
                       threads: int = 0) -> Predict:
    """A function mapping pixels (n, size, size, 3) to features (n, dim) float32 with the IR at
    ``xml_path`` on this machine's CPU (``threads`` 0: all cores)."""
    import openvino as ov

    core = ov.Core()
    settings = {"INFERENCE_PRECISION_HINT": OPENVINO_PRECISION[precision],
                "PERFORMANCE_HINT": "LATENCY"}         # one request uses every core
    if threads:
        settings["INFERENCE_NUM_THREADS"] = threads
    compiled = core.compile_model(core.read_model(str(xml_path)), "CPU", settings)

    def predict(pixels: np.ndarray) -> np.ndarray:
        return np.asarray(compiled(np.asarray(pixels, np.float32))[0], np.float32)

    return predict


def network_predictor(make_network: Callable[[str], object], runtime: str, precision: str,
                      xml_path: Path) -> tuple[Predict, str, Path | None]:
    """(predict, the runtime it runs on, its IR or None) for the network ``make_network(precision)``
    builds (a Keras feature extractor), in ``precision`` as that runtime runs it
    (:func:`precision_on`); OpenVINO falls back to Keras with a logged reason."""
    converted = converted_network(make_network, xml_path) if runtime == "openvino" else None
    if converted:
        if precision == "bfloat16" and not native_bfloat16():
            LOG.info("EXTRACT_PRECISION=%s: this CPU has no native bfloat16, OpenVINO computes "
                     "float32 here", precision)
        try:
            return (openvino_predictor(converted, precision_on("openvino", precision)), "openvino",
                    converted)
        except Exception as error:  # noqa: BLE001 - whatever fails, Keras still works
            _log_fallback(error)
    return make_network(precision_on("keras", precision)).predict_on_batch, "keras", None


def converted_network(make_network: Callable[[str], object], xml_path: Path) -> Path | None:
    """The IR of ``make_network("float32")`` at ``xml_path`` (converted once, compiled by
    :func:`network_predictor` or by the Ray actors); None, with the logged reason, when
    conversion fails."""
    try:
        return convert_to_openvino(make_network("float32"), xml_path)
    except Exception as error:  # noqa: BLE001 - whatever fails, Keras still works
        _log_fallback(error)
        return None


def _log_fallback(error: Exception) -> None:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    LOG.warning("EXTRACT_RUNTIME=openvino could not be used (%s): running the network in "
                "Keras; set EXTRACT_RUNTIME=keras to skip the attempt", reason)
