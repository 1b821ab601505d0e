"""Stage 00: true labels from class sub-folders, a labels CSV, or a filename pattern.

Output ``labels_true.csv`` has one row per raw image: ``file`` (relative to RAW_DIR), ``label``
(empty when unknown) and ``trainable`` (1 when the label may be used for fine-tuning: images in
class sub-folders, or CSV rows with ``trainable=1``). The competition's plain-text files
``img_paths.txt`` and ``labels_true.txt`` (one line per image, same order; -1 = unknown) are
written beside it.
"""
from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from common.atomic_io import atomic_write_csv, atomic_write_text, read_csv_rows
from common.errors import SomclustError
from common.images import list_images, name_problem, printable_name
from common.skips import SkipLog

LOG = logging.getLogger("somclust")
LABELS_HEADER = ("file", "label", "trainable")


@dataclass(frozen=True)
class LabeledImage:
    file: str
    label: str
    trainable: bool


def _relative_name(file: str, raw_dir: Path) -> str:
    """A CSV's ``file`` as a path relative to ``raw_dir``: an absolute path below it made
    relative; anything else as given."""
    if not os.path.isabs(file):
        return file
    relative = os.path.relpath(os.path.abspath(file), os.path.abspath(raw_dir))
    return file if relative == os.curdir or relative.startswith(os.pardir) else relative


def read_labels_csv(labels_csv: Path) -> list[dict[str, str]]:
    """The rows of a user's labels CSV as spreadsheets write it: a UTF-8 byte-order mark
    dropped, the delimiter "," or ";" or a tab (as the header has it), column names in any
    case."""
    try:
        with open(labels_csv, newline="", encoding="utf-8-sig") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise SomclustError(f"cannot read labels CSV {labels_csv}: {error}") from None
    header = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=header.count)
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    if reader.fieldnames:
        reader.fieldnames = [name.strip().lower() for name in reader.fieldnames]
    return list(reader)


def _csv_labels(labels_csv: Path, raw_dir: Path, known_files: set[str],
                skips: SkipLog) -> dict[str, tuple[str, bool]]:
    rows = read_labels_csv(labels_csv)
    if rows and not {"file", "label"} <= set(rows[0]):
        raise SomclustError(f"labels CSV {labels_csv} needs the columns 'file' and 'label' "
                            f"(found: {', '.join(rows[0])})")
    for row in rows:
        row["file"] = _relative_name((row.get("file") or "").strip(), raw_dir)
    named = [row["file"] for row in rows]
    if any(named) and not known_files & set(named):
        example = next(file for file in named if file)
        raise SomclustError(f"none of the {sum(map(bool, named))} files labels CSV {labels_csv} "
                            f"names is in RAW_DIR (e.g. {example!r}, where RAW_DIR has "
                            f"{min(known_files)!r}); its 'file' column holds paths relative to "
                            "RAW_DIR")
    labels: dict[str, tuple[str, bool]] = {}
    for line, row in enumerate(rows, start=2):
        file, label = row["file"], (row.get("label") or "").strip()
        trainable = (row.get("trainable") or "0").strip().lower() in ("1", "true", "yes")
        if not file or not label:
            skips.skip(f"{labels_csv}:{line}", "row without a file or label")
        elif file not in known_files:
            skips.skip(file, f"named in {labels_csv.name} line {line} but not found in RAW_DIR")
        elif file in labels and labels[file][0] != label:
            raise SomclustError(f"labels CSV {labels_csv} gives {file} two labels "
                                f"({labels[file][0]!r} and {label!r}); keep one row per file")
        else:
            labels[file] = (label, trainable)
    return labels


def collect_labels(raw_dir: str | Path, source: str, labels_csv: str | Path | None,
                   filename_regex: str, unlabeled_dir: str, skips: SkipLog,
                   csv_named: bool = False) -> list[LabeledImage]:
    """One LabeledImage per image file under ``raw_dir`` (see module doc for the sources).
    ``csv_named``: ``labels_csv`` was named by the user (not the default path), so a missing
    file is an error with any ``source``, not a folder without a CSV."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise SomclustError(f"RAW_DIR {raw_dir} does not exist; put your images there or pass "
                            "--raw-dir (run make_demo_dataset.py for the demo data)")
    files, ignored = [], Counter()
    for path in list_images(raw_dir, ignored):
        file = str(path.relative_to(raw_dir))
        problem = name_problem(file)
        if problem:
            skips.skip(printable_name(file), problem)
        else:
            files.append(file)
    if ignored:
        count = sum(ignored.values())
        LOG.info("not read: %d file%s of other types in RAW_DIR (%s); images in another format "
                 "are clustered once converted to PNG or JPEG", count, "s" * (count != 1),
                 ", ".join(f"{ext}: {n}" for ext, n in ignored.most_common()))
    if not files:
        raise SomclustError(f"no images (.png, .jpg, ...) found in RAW_DIR {raw_dir}")
    csv_path = Path(labels_csv) if labels_csv else None
    use_csv = source == "csv" or (source == "auto" and csv_path is not None and csv_path.is_file())
    if source == "csv" and (csv_path is None or not csv_path.is_file()):
        raise SomclustError(f"LABEL_SOURCE=csv but LABELS_CSV {csv_path} does not exist")
    if csv_named and source != "csv" and csv_path is not None and not csv_path.is_file():
        raise SomclustError(f"LABELS_CSV {csv_path} does not exist; give the path of your labels "
                            "CSV (columns file,label[,trainable]), or leave LABELS_CSV unset to "
                            "take the labels from sub-folders or file names")
    from_csv = _csv_labels(csv_path, raw_dir, set(files), skips) if use_csv else {}
    pattern = re.compile(filename_regex)
    images = []
    for file in files:
        parts = Path(file).parts
        label, trainable = "", False
        if file in from_csv:
            label, trainable = from_csv[file]
        elif source in ("auto", "folders") and len(parts) > 1 and parts[0] != unlabeled_dir:
            label, trainable = parts[0], True
        elif source in ("auto", "filename") and len(parts) == 1:
            match = pattern.search(parts[-1])
            label = match.group(1) if match else ""
        images.append(LabeledImage(file, label, trainable))
    _warn_thin_classes(images)
    if from_csv and not any(image.trainable for image in images):
        LOG.warning("%s gives %d labels, none with trainable=1: they score the clusters, and no "
                    "image is fine-tuned on (add a column 'trainable' with 1 on the rows to "
                    "fine-tune on)", csv_path.name, len(from_csv))
    return images


def _warn_thin_classes(images: list[LabeledImage]) -> None:
    counts = Counter(i.label for i in images if i.trainable)
    for label, count in sorted(counts.items()):
        if count < 2:
            LOG.warning("class %r has only %d labeled image(s); fine-tuning learns little from it",
                        label, count)


def write_labels(images: list[LabeledImage], out_dir: str | Path) -> dict[str, int]:
    """Write labels_true.csv, img_paths.txt and labels_true.txt; return a summary."""
    out_dir = Path(out_dir)
    atomic_write_csv(out_dir / "labels_true.csv", LABELS_HEADER,
                     [(i.file, i.label, int(i.trainable)) for i in images])
    classes = sorted({i.label for i in images if i.label})
    class_ids = {label: index for index, label in enumerate(classes)}
    atomic_write_text(out_dir / "img_paths.txt", "".join(f"{i.file}\n" for i in images))
    atomic_write_text(out_dir / "labels_true.txt",
                      "".join(f"{class_ids.get(i.label, -1)}\n" for i in images))
    return {"images": len(images), "classes": len(classes),
            "labeled": sum(bool(i.label) for i in images),
            "trainable": sum(i.trainable for i in images),
            "trainable_classes": len({i.label for i in images if i.trainable})}


def labels_summary(summary: dict[str, int]) -> str:
    """One line on what :func:`write_labels` wrote: labeled, trainable, or none at all."""
    if not summary["labeled"]:
        return (f"{summary['images']} images, none with a label (no class sub-folders, labels "
                "CSV or file names matching FILENAME_LABEL_REGEX): the images are clustered "
                "without labels and not scored")
    return (f"{summary['images']} images, {summary['labeled']} with a true label in "
            f"{summary['classes']} classes, {summary['trainable']} usable for fine-tuning "
            f"({summary['trainable_classes']} classes)")


def read_labels(out_dir: str | Path) -> list[LabeledImage]:
    """Read labels_true.csv written by stage 00."""
    path = Path(out_dir) / "labels_true.csv"
    if not path.exists():
        raise SomclustError(f"{path} not found: run 00_make_labels.py first")
    return [LabeledImage(r["file"], r["label"], r["trainable"] == "1") for r in read_csv_rows(path)]
