"""Read a PyTorch ``.pth`` state dict with numpy alone, without importing PyTorch.

Both serialisations are supported: the zip format (``archive/data.pkl`` + ``archive/data/<key>``)
and the legacy one (magic, protocol and system-info pickles, the state-dict pickle, the list of
storage keys, then each storage's raw bytes). The unpickler is restricted: it builds only
OrderedDicts, tensors and storages, and rejects every other global, so a malicious file cannot
run code.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import SomclustError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64,
                  "HalfStorage": np.float16, "LongStorage": np.int64, "IntStorage": np.int32,
                  "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
                  "BoolStorage": np.bool_}


@dataclass
class _Storage:
    key: str
    dtype: type
    size: int


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple
    stride: tuple


def _rebuild_tensor(storage, offset, shape, stride, *_ignored):
    return _TensorRef(storage, int(offset), tuple(shape), tuple(stride))


class _StorageType:
    def __init__(self, name: str):
        self.dtype = STORAGE_DTYPES[name]


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, size = pid[:5]
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError("storage of an unknown type")
        return _Storage(str(key), storage_type.dtype, int(size))


def _materialise(ref: _TensorRef, buffers: dict[str, np.ndarray]) -> np.ndarray:
    flat = buffers[ref.storage.key]
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(flat[ref.offset:], shape=ref.shape,
                                           strides=tuple(s * itemsize for s in ref.stride))
    return np.array(view, copy=True)


def _load_zip(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with zipfile.ZipFile(path) as archive:
        pickle_name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
        prefix = pickle_name[: -len("data.pkl")]
        state = _RestrictedUnpickler(io.BytesIO(archive.read(pickle_name))).load()
        storages = {t.storage.key: t.storage for t in state.values() if isinstance(t, _TensorRef)}
        buffers = {key: np.frombuffer(archive.read(f"{prefix}data/{key}"), dtype=s.dtype)
                   for key, s in storages.items()}
    return state, buffers


def _load_legacy(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    handle = io.BytesIO(path.read_bytes())
    if _RestrictedUnpickler(handle).load() != LEGACY_MAGIC:
        raise pickle.UnpicklingError("not a PyTorch file (bad magic number)")
    _RestrictedUnpickler(handle).load()          # protocol version
    sys_info = _RestrictedUnpickler(handle).load()
    if not sys_info.get("little_endian", True):
        raise pickle.UnpicklingError("big-endian weights files are not supported")
    state = _RestrictedUnpickler(handle).load()
    keys = _RestrictedUnpickler(handle).load()
    storages = {t.storage.key: t.storage for t in state.values() if isinstance(t, _TensorRef)}
    buffers = {}
    for key in keys:
        count = int(np.frombuffer(handle.read(8), dtype="<i8")[0])
        dtype = storages[key].dtype if key in storages else np.uint8
        buffers[key] = np.frombuffer(handle.read(count * np.dtype(dtype).itemsize), dtype=dtype)
    return state, buffers


def load_torch_state_dict(path: str | Path) -> "OrderedDict[str, np.ndarray]":
    """Parameter name -> numpy array, from a PyTorch state-dict file."""
    path = Path(path)
    try:
        loader = _load_zip if zipfile.is_zipfile(path) else _load_legacy
        state, buffers = loader(path)
    except (pickle.UnpicklingError, EOFError, KeyError, StopIteration, ValueError,
            AttributeError, TypeError) as error:
        raise SomclustError(f"{path}: not a readable PyTorch state dict ({error})") from None
    if not isinstance(state, dict):
        raise SomclustError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return OrderedDict((name, _materialise(ref, buffers)) for name, ref in state.items()
                       if isinstance(ref, _TensorRef))
