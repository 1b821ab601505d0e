"""Feature extraction into a memory-mapped .npy, resumable batch by batch and cached per file.

Outputs in ``out_dir``, one per network: ``<name>.npy`` (N, D) float32 and ``<name>_index.csv``
(row, file, valid). Several networks run in one pass over the images, each image decoded once.
While running, rows go to ``.<name>.partial.npy`` and a progress file records how many batches
are done; a killed run continues from there. A finished output is reused row by row for files
whose size and modification time have not changed.
"""
from __future__ import annotations

import filecmp
import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any, Iterator, Mapping, Protocol, Sequence

import numpy as np
from tqdm import tqdm

from common.atomic_io import atomic_copy_file, atomic_write_csv, atomic_write_json, read_csv_rows
from common.disk import require_free_space
from common.parallel import submitted_ahead
from common.errors import ImageReadError, SomclustError
from common.images import read_square
from common.stage import file_signature
from extract.runtime import Predict

LOG = logging.getLogger("somclust")
INDEX_HEADER = ("row", "file", "valid", "signature")


def load_images(paths: Sequence[Path], image_size: int,
                max_side: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (n, size, size, 3) uint8 (the models cast them; read as
    :func:`common.images.read_square` reads them) and a validity mask (unreadable images are
    zeros)."""
    batch = np.zeros((len(paths), image_size, image_size, 3), np.uint8)
    valid = np.ones(len(paths), bool)
    for i, path in enumerate(paths):
        try:
            batch[i] = read_square(path, image_size, max_side)
        except ImageReadError as error:
            LOG.warning("skipped %s: %s", path, error)
            valid[i] = False
    return batch, valid


# a batch to extract: the images' paths, and which of the extractor's networks to run on them
Batch = tuple[Sequence[Path], tuple[int, ...]]


def _loaded_batches(batches: Sequence[Batch], image_size: int, threads: int,
                    max_side: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(pixels, valid) of each batch in order; with ``threads`` > 0, up to threads + 1 batches
    are decoded ahead (OpenCV releases the GIL) while the caller runs the model."""
    if threads <= 0:
        for paths, _ in batches:
            yield load_images(paths, image_size, max_side)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="decode") as pool:
        for future in submitted_ahead(batches, lambda batch: pool.submit(load_images, batch[0],
                                                                         image_size, max_side),
                                      threads + 1):
            yield future.result()


class BatchExtractor(Protocol):
    """Maps batches (paths, networks) to (one (n, dim) array per network asked for, valid (n,))
    per batch, in order."""

    def __call__(self, batches: Sequence[Batch]) -> Iterator[tuple[list[np.ndarray], np.ndarray]]: ...

    def close(self) -> None:
        """Release what the extractor holds (models, workers)."""


class LocalExtractor:
    """Extraction in this process with one or several networks (``predict``: pixels (n, size,
    size, 3) uint8 -> features (n, dim)): each image is decoded once for all of them, the next
    batches in ``threads`` threads while the networks run; images larger than ``max_side`` are
    read shrunk to it first (0: at full size). A function given for several outputs runs once
    per batch."""

    def __init__(self, predict: Predict | Sequence[Predict], image_size: int,
                 threads: int = 2, max_side: int = 0):
        self.predicts = [predict] if callable(predict) else list(predict)
        self.image_size, self.threads, self.max_side = image_size, threads, max_side

    def __call__(self, batches: Sequence[Batch]) -> Iterator[tuple[list[np.ndarray], np.ndarray]]:
        loaded = _loaded_batches(batches, self.image_size, self.threads, self.max_side)
        for (_, networks), (pixels, valid) in zip(batches, loaded):
            computed: dict[Predict, np.ndarray] = {}
            for predict in (self.predicts[n] for n in networks):
                if predict not in computed:
                    computed[predict] = np.asarray(predict(pixels), np.float32)
            yield [computed[self.predicts[n]] for n in networks], valid

    def close(self) -> None:
        """Nothing to release: the models belong to the caller."""


class RowFile:
    """Rows of a float32 .npy file written in place with positioned writes: unlike a memory
    map, the process's resident memory stays flat however many rows the file holds."""

    def __init__(self, path: Path):
        self.handle = open(path, "r+b")
        version = np.lib.format.read_magic(self.handle)
        shape, _, _ = (np.lib.format.read_array_header_1_0 if version == (1, 0) else
                       np.lib.format.read_array_header_2_0)(self.handle)
        self.offset, self.row_bytes = self.handle.tell(), int(np.prod(shape[1:])) * 4

    @classmethod
    def create(cls, path: Path, n_rows: int, dim: int) -> "RowFile":
        """A new (n_rows, dim) file of zeros (sparse on disk until written)."""
        with open(path, "wb") as handle:
            np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False,
                                                          "shape": (n_rows, dim)})
            handle.truncate(handle.tell() + n_rows * dim * 4)
        return cls(path)

    def write(self, rows: Sequence[int], values: np.ndarray) -> None:
        values = np.ascontiguousarray(values, dtype="<f4")
        for row, value in zip(rows, values):
            os.pwrite(self.handle.fileno(), value.tobytes(), self.offset + row * self.row_bytes)

    def sync(self) -> None:
        os.fsync(self.handle.fileno())

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> "RowFile":
        return self

    def __exit__(self, *_) -> None:
        self.close()


def _cached_rows(out_dir: Path, name: str,
                 model_key: str) -> tuple[dict[tuple[str, str], int], np.ndarray | None]:
    """{(file, signature): row} and the features of a finished output made by the same model."""
    index_path, features_path = out_dir / f"{name}_index.csv", out_dir / f"{name}.npy"
    meta_path = out_dir / f"{name}_meta.json"
    if not (index_path.exists() and features_path.exists() and meta_path.exists()):
        return {}, None
    if json.loads(meta_path.read_text()).get("model_key") != model_key:
        LOG.info("%s: the model or its settings changed; every image is extracted again", name)
        return {}, None
    rows = {(r["file"], r["signature"]): int(r["row"]) for r in read_csv_rows(index_path)
            if r["valid"] == "1"}
    return rows, np.load(features_path, mmap_mode="r")


def share_finished_output(source_dir: str | Path, target_dir: str | Path, name: str) -> None:
    """Copy the finished output ``name`` (features, index, meta) from ``source_dir`` into
    ``target_dir``, so that an extraction there reuses its rows where its model key matches
    (stage 02's draft round hands stage 03 the un-fine-tuned features this way). The meta goes
    last: a copy killed midway leaves nothing that could be reused."""
    source_dir, target_dir = Path(source_dir), Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    (target_dir / f"{name}_meta.json").unlink(missing_ok=True)
    for suffix in (".npy", "_index.csv", "_meta.json"):
        atomic_copy_file(source_dir / f"{name}{suffix}", target_dir / f"{name}{suffix}")


def extract_features(extractor: BatchExtractor, files: Sequence[str], paths: Sequence[Path],
                     out_dir: str | Path, name: str, batch_size: int = 64,
                     model_key: str = "", show_progress: bool = True) -> dict:
    """Features of every image by a one-network ``extractor`` into ``name``: see
    :func:`extract_feature_files`; returns the output's summary."""
    return extract_feature_files(extractor, files, paths, out_dir, {name: model_key},
                                 batch_size, show_progress)[name]


def _batches(needs: Sequence[tuple[int, ...]],
             batch_size: int) -> list[tuple[list[int], tuple[int, ...]]]:
    """(rows, networks) batches over the rows with something to compute: rows that need the
    same networks are batched together (in row order), so each image is decoded once."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for row, need in enumerate(needs):
        if need:
            groups.setdefault(need, []).append(row)
    ordered = sorted(groups.items(), key=lambda group: (-len(group[0]), group[0]))
    return [(rows[s:s + batch_size], need) for need, rows in ordered
            for s in range(0, len(rows), batch_size)]


def extract_feature_files(extractor: BatchExtractor, files: Sequence[str], paths: Sequence[Path],
                          out_dir: str | Path, outputs: Mapping[str, str], batch_size: int = 64,
                          show_progress: bool = True) -> dict[str, dict]:
    """Features of every image into one output per network of ``extractor`` (a
    :class:`LocalExtractor`, or :class:`extract.distributed.RayExtractor` on a cluster);
    returns a summary per output.

    ``outputs`` maps each output's name to its ``model_key`` (what identifies the network and
    its settings: weights, image size, layer, precision), in the extractor's network order.
    ``files`` are the stable identifiers written to the indexes (row i <-> files[i]); ``paths``
    the images to read. A finished output's rows are reused for unchanged files when it was
    made with the same key; each image is decoded once for the networks that need it. Rows are
    written here in batch order whoever computes them, so a killed run resumes from the last
    finished batch.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(outputs)
    signatures = [file_signature(p) if Path(p).is_file() else "" for p in paths]  # gone: skipped
    keys = list(zip(files, signatures))
    cached = [_cached_rows(out_dir, name, outputs[name]) for name in names]
    needs = [tuple(n for n, (rows, _) in enumerate(cached) if key not in rows) for key in keys]
    batches = _batches(needs, batch_size)
    job = "+".join(names)
    plan_id = hashlib.sha256(json.dumps([files, signatures, batch_size, outputs]).encode()
                             ).hexdigest()
    partials = [out_dir / f".{name}.partial.npy" for name in names]
    progress_path = out_dir / f".{job}.progress.json"
    progress = json.loads(progress_path.read_text()) if progress_path.exists() else {}
    resuming = progress.get("plan") == plan_id and all(p.exists() for p in partials)
    if not resuming:
        progress = {"plan": plan_id, "dims": _dims(extractor, cached, needs, paths),
                    "batches_done": 0, "invalid": {name: [] for name in names}}
        require_free_space(out_dir, len(files) * sum(progress["dims"]) * 4,
                           f"{len(files):,} x {'+'.join(map(str, progress['dims']))} float32 "
                           f"features ({', '.join(f'{n}.npy' for n in names)})")
        for partial, dim, (rows, features) in zip(partials, progress["dims"], cached):
            with RowFile.create(partial, len(files), dim) as out:
                for i, key in enumerate(keys):
                    if key in rows:
                        out.write([i], features[rows[key]][None])
                out.sync()
        atomic_write_json(progress_path, progress)
    invalid = {name: set(progress["invalid"][name]) for name in names}
    first = progress["batches_done"]
    computed = extractor([([paths[i] for i in rows], need) for rows, need in batches[first:]])
    bar = tqdm(total=sum(len(rows) for rows, _ in batches),
               initial=sum(len(rows) for rows, _ in batches[:first]),
               desc=f"extract {', '.join(names)}", unit="img", disable=not show_progress)
    with closing(computed), bar, ExitStack() as opened:
        out_files = [opened.enter_context(RowFile(p)) for p in partials]
        for number, ((rows, need), (features, valid)) in enumerate(zip(batches[first:], computed),
                                                                   start=first):
            for network, part in zip(need, features):
                out_files[network].write(rows, part)
                out_files[network].sync()
                invalid[names[network]].update(int(r) for r, ok in zip(rows, valid) if not ok)
            progress.update(batches_done=number + 1,
                            invalid={name: sorted(flagged) for name, flagged in invalid.items()})
            atomic_write_json(progress_path, progress)
            bar.update(len(rows))
    summaries = {}
    for network, (name, partial) in enumerate(zip(names, partials)):
        meta_path = out_dir / f"{name}_meta.json"
        meta_path.unlink(missing_ok=True)          # no reuse of rows until index and meta match
        os.replace(partial, out_dir / f"{name}.npy")
        atomic_write_csv(out_dir / f"{name}_index.csv", INDEX_HEADER,
                         [(i, f, int(i not in invalid[name]), s)
                          for i, (f, s) in enumerate(zip(files, signatures))])
        dim = progress["dims"][network]
        atomic_write_json(meta_path, {"model_key": outputs[name], "dim": dim})
        extracted = sum(network in need for need in needs)
        summaries[name] = {"images": len(files), "extracted": extracted,
                           "reused": len(files) - extracted, "invalid": len(invalid[name]),
                           "dim": dim}
    progress_path.unlink(missing_ok=True)
    return summaries


def _dims(extractor: BatchExtractor, cached: Sequence[tuple[dict, np.ndarray | None]],
          needs: Sequence[tuple[int, ...]], paths: Sequence[Path]) -> list[int]:
    """Each output's feature size: from its finished file, else from one image's features."""
    dims = [int(features.shape[1]) if features is not None else 0 for _, features in cached]
    probe = tuple(n for n, dim in enumerate(dims) if not dim)
    first = next((row for row, need in enumerate(needs) if need), None)
    if probe and first is not None:
        features, _ = next(iter(extractor([([paths[first]], probe)])))
        for network, part in zip(probe, features):
            dims[network] = int(part.shape[1])
    return dims


def load_features(out_dir: str | Path, name: str) -> tuple[np.ndarray, list[str]]:
    """The valid rows of a finished extraction and their files."""
    out_dir = Path(out_dir)
    index = read_csv_rows(out_dir / f"{name}_index.csv")
    features = np.load(out_dir / f"{name}.npy", mmap_mode="r")
    keep = [int(r["row"]) for r in index if r["valid"] == "1"]
    return np.asarray(features[keep]), [index[i]["file"] for i in keep]


def same_features(out_dir: str | Path, first: str = "features",
                  second: str = "features_pretrained") -> bool:
    """Whether two finished extractions are the same byte for byte, rows and index (stage 02 kept
    the backbone as it was, so stage 03 ran one network for both); two networks' files differ in
    their first bytes, so comparing them reads little."""
    out_dir = Path(out_dir)
    filecmp.clear_cache()                   # a file rewritten since is compared anew
    return all(filecmp.cmp(out_dir / f"{first}{suffix}", out_dir / f"{second}{suffix}",
                           shallow=False) for suffix in (".npy", "_index.csv"))


# extracted feature file -> the model (in RUN_DIR/model) it comes from (stage 07 reloads them)
MODEL_FILES = {"features": "finetuned.keras", "features_pretrained": "untuned.keras"}
# FEATURE_SET -> the extracted feature files it puts side by side
FEATURE_SETS = {"finetuned": ("features",), "pretrained": ("features_pretrained",),
                "both": ("features", "features_pretrained")}
FEATURE_SET_NAMES = {"finetuned": "fine-tuned", "pretrained": "not fine-tuned",
                     "both": "fine-tuned + not fine-tuned features"}


def clustered_feature_set(record: Mapping[str, Any]) -> str:
    """The FEATURE_SET a finished stage 04 clustered with, from its record (``read_record``): the
    one its summary names (``FEATURE_SET=auto``: the view it kept), else its config's,
    else ``finetuned`` (runs made before the key existed)."""
    used = record.get("summary", {}).get("clusters", {}).get("feature_set")
    return used or record.get("fingerprint", {}).get("FEATURE_SET", "finetuned")


def combine_features(parts: Sequence[np.ndarray]) -> np.ndarray:
    """Row-wise L2-normalised parts, side by side (one part: just normalised)."""
    normalised = [np.asarray(p, np.float32) / np.maximum(
        np.linalg.norm(p, axis=1, keepdims=True), 1e-12) for p in parts]
    return np.hstack(normalised).astype(np.float32)


def load_feature_set(out_dir: str | Path, feature_set: str) -> tuple[np.ndarray, list[str]]:
    """The features of ``feature_set`` (see FEATURE_SETS) for the files valid in every part."""
    out_dir = Path(out_dir)
    parts = []
    for name in FEATURE_SETS[feature_set]:
        if not (out_dir / f"{name}.npy").exists():
            raise SomclustError(f"{out_dir}/{name}.npy not found (needed by FEATURE_SET="
                                f"{feature_set}): run 03_extract_features.py first"
                                + ("" if name == "features" else " with EXTRACT_BASELINE=true"))
        parts.append(load_features(out_dir, name))
    common = set.intersection(*(set(files) for _, files in parts))
    files = [f for f in parts[0][1] if f in common]
    aligned = []
    for features, part_files in parts:
        row_of = {f: i for i, f in enumerate(part_files)}
        aligned.append(features[[row_of[f] for f in files]])
    return combine_features(aligned), files
