import pytest

from common.errors import SomclustError
from common.images import encode_png
from common.skips import SkipLog
from preprocess.labels import collect_labels, labels_summary, read_labels, write_labels
import numpy as np

IMAGE = encode_png(np.full((16, 16, 3), 120, np.uint8))


def _tree(root, files):
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(IMAGE)


def test_folders_and_csv(tmp_path):
    raw = tmp_path / "raw"
    _tree(raw, ["cat/a.png", "cat/b.png", "dog/c.png", "unlabeled/d.png", "unlabeled/e.png"])
    csv = tmp_path / "labels.csv"
    csv.write_text("file,label\nunlabeled/d.png,dog\nmissing.png,cat\n")
    skips = SkipLog(tmp_path, "00")
    images = collect_labels(raw, "auto", csv, r"^(\d+)_", "unlabeled", skips)
    by_file = {i.file: i for i in images}
    assert by_file["cat/a.png"].label == "cat" and by_file["cat/a.png"].trainable
    assert by_file["unlabeled/d.png"].label == "dog" and not by_file["unlabeled/d.png"].trainable
    assert by_file["unlabeled/e.png"].label == ""
    assert [row[1] for row in skips.rows] == ["missing.png"]
    summary = write_labels(images, tmp_path)
    assert summary == {"images": 5, "classes": 2, "labeled": 4, "trainable": 3,
                       "trainable_classes": 2}
    assert (tmp_path / "labels_true.txt").read_text().split() == ["0", "0", "1", "1", "-1"]
    assert (tmp_path / "img_paths.txt").read_text().split()[0] == "cat/a.png"
    assert [i.file for i in read_labels(tmp_path)] == [i.file for i in images]


def test_filename_pattern(tmp_path):
    _tree(tmp_path / "raw", ["12_front.png", "12_back.png", "7_side.png", "nolabel.png"])
    images = collect_labels(tmp_path / "raw", "auto", None, r"^(\d+)_", "unlabeled",
                            SkipLog(tmp_path, "00"))
    assert {i.file: i.label for i in images} == {"12_back.png": "12", "12_front.png": "12",
                                                 "7_side.png": "7", "nolabel.png": ""}


@pytest.mark.parametrize("text, message", [
    ("file,label\nx.png,a\nx.png,b\n", "two labels"),
    ("name,class\nx.png,a\n", "'file' and 'label'"),
    # paths relative to another folder match nothing: one error naming an example of each side,
    # not a skipped line per row and a run without labels
    ("file,label\nraw/x.png,a\nraw/y.png,b\n",
     r"none of the 2 files .* 'raw/x.png', where RAW_DIR has 'x.png'"),
])
def test_csv_problems_are_one_clear_error(tmp_path, text, message):
    _tree(tmp_path / "raw", ["x.png", "y.png"])
    csv = tmp_path / "labels.csv"
    csv.write_text(text)
    with pytest.raises(SomclustError, match=message):
        collect_labels(tmp_path / "raw", "csv", csv, "", "unlabeled", SkipLog(tmp_path, "00"))


def test_missing_or_empty_folders_are_clear_errors(tmp_path):
    with pytest.raises(SomclustError, match="does not exist"):
        collect_labels(tmp_path / "nope", "auto", None, "", "unlabeled", SkipLog(tmp_path, "00"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SomclustError, match="no images"):
        collect_labels(tmp_path / "empty", "auto", None, "", "unlabeled", SkipLog(tmp_path, "00"))


def test_a_named_csv_that_is_missing_is_an_error_the_default_one_is_not(tmp_path):
    _tree(tmp_path / "raw", ["cat/x.png", "dog/y.png"])
    missing = tmp_path / "labels.csv"
    with pytest.raises(SomclustError, match=f"LABELS_CSV {missing} does not exist"):
        collect_labels(tmp_path / "raw", "auto", missing, "", "unlabeled",
                       SkipLog(tmp_path, "00"), csv_named=True)
    images = collect_labels(tmp_path / "raw", "auto", missing, "", "unlabeled",
                            SkipLog(tmp_path, "00"))
    assert {i.label for i in images} == {"cat", "dog"}


def test_csv_labels_none_trainable_are_said_to_only_score(tmp_path, caplog):
    """A CSV without a trainable column labels images for scoring only: with nothing else to
    fine-tune on, stage 00 says so and how to mark rows for fine-tuning."""
    _tree(tmp_path / "raw", ["x.png", "y.png"])
    csv = tmp_path / "labels.csv"
    csv.write_text("file,label\nx.png,a\ny.png,b\n")
    with caplog.at_level("WARNING", logger="somclust"):
        collect_labels(tmp_path / "raw", "auto", csv, "", "unlabeled", SkipLog(tmp_path, "00"))
    assert "none with trainable=1" in caplog.text and "'trainable'" in caplog.text
    caplog.clear()
    csv.write_text("file,label,trainable\nx.png,a,1\ny.png,b,1\n")
    with caplog.at_level("WARNING", logger="somclust"):
        collect_labels(tmp_path / "raw", "auto", csv, "", "unlabeled", SkipLog(tmp_path, "00"))
    assert "trainable=1" not in caplog.text


def test_absolute_paths_below_the_folder_in_a_csv_are_read_relative_to_it(tmp_path):
    _tree(tmp_path / "raw", ["x.png", "sub/y.png"])
    csv = tmp_path / "labels.csv"
    csv.write_text(f"file,label,trainable\n{tmp_path}/raw/x.png,a,1\n{tmp_path}/raw/sub/y.png,b,1\n"
                   f"{tmp_path}/raw/../raw/sub/y.png,b,1\n")
    images = collect_labels(tmp_path / "raw", "auto", csv, "", "unlabeled", SkipLog(tmp_path, "00"))
    assert {i.file: (i.label, i.trainable) for i in images} == {"x.png": ("a", True),
                                                                 "sub/y.png": ("b", True)}


@pytest.mark.parametrize("text", [
    "\ufefffile,label,trainable\r\nx.png,a,1\r\n",        # Excel's "CSV UTF-8": a byte-order mark
    "file;label;trainable\nx.png;a;1\n",                 # a spreadsheet's ";" CSV
    "File\tLabel\tTrainable\nx.png\ta\t1\n",             # tabs, capitalised column names
    "file,label,trainable\nx.png,a,True\ny.png,,False\n",  # pandas' booleans (Excel: TRUE)
])
def test_labels_csv_as_spreadsheets_write_it(tmp_path, text):
    _tree(tmp_path / "raw", ["x.png", "y.png"])
    csv = tmp_path / "labels.csv"
    csv.write_bytes(text.encode("utf-8"))
    images = collect_labels(tmp_path / "raw", "auto", csv, r"^(\d+)_", "unlabeled", SkipLog(tmp_path, "00"))
    assert {i.file: (i.label, i.trainable) for i in images} == {"x.png": ("a", True),
                                                                 "y.png": ("", False)}


def test_the_summary_says_when_nothing_is_labeled(tmp_path):
    _tree(tmp_path / "raw", ["cat/x.png", "y.png"])
    labeled = write_labels(collect_labels(tmp_path / "raw", "auto", None, r"^(\d+)_", "unlabeled",
                                          SkipLog(tmp_path, "00")), tmp_path / "work")
    assert labels_summary(labeled) == ("2 images, 1 with a true label in 1 classes, 1 usable for "
                                       "fine-tuning (1 classes)")
    (tmp_path / "raw" / "cat" / "x.png").rename(tmp_path / "raw" / "x.png")
    none = write_labels(collect_labels(tmp_path / "raw", "auto", None, r"^(\d+)_", "unlabeled",
                                       SkipLog(tmp_path, "00")), tmp_path / "work")
    assert labels_summary(none).startswith("2 images, none with a label (no class sub-folders")
