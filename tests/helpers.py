"""Running the stage scripts on a tiny generated dataset, as a user runs them."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")
STAGES = ["make_demo_dataset.py", "00_make_labels.py", "01_remove_background.py",
          "02_finetune.py", "03_extract_features.py", "04_cluster.py", "05_evaluate.py",
          "06_report.py"]
TINY = {"DEMO_LABELED_PER_CLASS": "8", "DEMO_UNLABELED_PER_CLASS": "4", "DEMO_IMAGE_SIZE": "64",
        "IMAGE_SIZE": "75", "FT_EPOCHS": "2", "FT_BATCH_SIZE": "16", "EXTRACT_BATCH_SIZE": "8",
        "SOM_ROWS": "4", "SOM_COLS": "4", "SOM_EPOCHS": "5", "K_MAX": "8", "FEATURE_PCA": "16",
        "BG_WORKERS": "1"}


def script_env(work_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a tiny run in ``work_dir`` (``settings`` override config keys)."""
    return {**os.environ, **TINY, **settings, "WORK_DIR": str(work_dir),
            "TF_CPP_MIN_LOG_LEVEL": "2"}


def run_script(script: str, work_dir: Path, *args: str, check: bool = True, timeout: int = 600,
               **settings: str) -> subprocess.CompletedProcess:
    """Run a stage script with the tiny config in ``work_dir``; assert success when ``check``."""
    return _run([str(ROOT / script), *args], work_dir, check, timeout, settings)


def run_somclust(*args: str, work_dir: Path, check: bool = True, timeout: int = 600,
                 **settings: str) -> subprocess.CompletedProcess:
    """Run the ``somclust`` command (``python -m somclust ARGS``) like :func:`run_script`."""
    return _run(["-m", "somclust", *args], work_dir, check, timeout, settings)


def _run(argv: list[str], work_dir: Path, check: bool, timeout: int,
         settings: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *argv], cwd=ROOT,
                            env=script_env(work_dir, **settings), capture_output=True, text=True,
                            timeout=timeout)
    if check:
        assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result


def tree_hash(folder: Path) -> str:
    """Hash of every path below ``folder``: file contents, link targets (links not followed),
    permission bits."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(folder, followlinks=False)):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            entry = f"{path.relative_to(folder)}:{path.lstat().st_mode:o}"
            digest.update(entry.encode("utf-8", "surrogateescape"))     # names need not be UTF-8
            if path.is_symlink():
                digest.update(os.readlink(path).encode("utf-8", "surrogateescape"))
            elif path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()


def write_feature_view(folder: Path, name: str, features, files: list[str]) -> None:
    """A finished extraction's files of one view as stage 03 leaves them: ``<name>.npy`` (rows)
    and ``<name>_index.csv`` (row, file, valid)."""
    import numpy as np

    from common.atomic_io import atomic_write_csv

    np.save(folder / f"{name}.npy", features)
    atomic_write_csv(folder / f"{name}_index.csv", ("row", "file", "valid"),
                     [(i, file, 1) for i, file in enumerate(files)])
