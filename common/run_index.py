"""The images of a run: stage 00's labels joined with stage 01's processed images."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.atomic_io import read_csv_rows
from common.errors import SomclustError


@dataclass(frozen=True)
class ImageRecord:
    file: str           # relative to RAW_DIR
    image_path: Path    # the background-removed image
    label: str          # true label; empty when unknown
    trainable: bool     # label usable for fine-tuning
    raw_path: Path | None = None   # the raw version to read: stage 01's working-size copy or
                                   # the raw file (None when the index was loaded without them)


def load_run_index(work_dir: str | Path, img_dir: str | Path, raw_dir: str | Path | None = None,
                   raw_copy_dir: str | Path | None = None) -> list[ImageRecord]:
    """Every successfully processed image with its labels, in labels_true.csv order; with
    ``raw_dir`` (and ``raw_copy_dir``, where stage 01 left working-size copies of large raw
    images) each record also says where its raw version is read."""
    work_dir, img_dir = Path(work_dir), Path(img_dir)
    labels_path, processed_path = work_dir / "labels_true.csv", work_dir / "processed.csv"
    for path, stage in ((labels_path, "00_make_labels.py"), (processed_path, "01_remove_background.py")):
        if not path.exists():
            raise SomclustError(f"{path} not found: run {stage} first")
    processed = {row["file"]: row for row in read_csv_rows(processed_path)}

    def raw_path(file: str) -> Path | None:
        copy = processed[file].get("raw_copy", "")        # a column since WORK_MAX_SIDE
        if copy and raw_copy_dir is not None:
            return Path(raw_copy_dir) / copy
        return Path(raw_dir) / file if raw_dir is not None else None

    return [ImageRecord(row["file"], img_dir / processed[row["file"]]["img"], row["label"],
                        row["trainable"] == "1", raw_path(row["file"]))
            for row in read_csv_rows(labels_path) if row["file"] in processed]
