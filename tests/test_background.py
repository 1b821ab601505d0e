import numpy as np

from common.atomic_io import atomic_write_bytes, atomic_write_csv, read_csv_rows
from common.images import encode_png
from common.skips import SkipLog
from preprocess.background import BackgroundParams, apply_mask, foreground_mask, mask_iou
from preprocess.demo_dataset import composite, load_backgrounds
from preprocess.fashion_mnist import CLASS_NAMES


def _item():
    item = np.zeros((28, 28), np.uint8)
    item[4:24, 8:20] = 220   # a bright 'garment'
    return item


def test_grabcut_beats_no_removal_on_cluttered_photos():
    photos = load_backgrounds()
    params = BackgroundParams()
    ious, baseline = [], []
    for seed in range(12):
        image, true_mask = composite(_item(), np.random.default_rng(seed), photos, 128)
        ious.append(mask_iou(foreground_mask(image, params), true_mask))
        baseline.append(mask_iou(np.ones_like(true_mask), true_mask))
    assert np.mean(ious) > 0.7 > np.mean(baseline) + 0.3


def test_none_method_keeps_everything_and_apply_mask_fills():
    image = np.full((20, 20, 3), 9, np.uint8)
    mask = foreground_mask(image, BackgroundParams(method="none"))
    assert mask.all()
    mask[:5] = False
    assert (apply_mask(image, mask, 0)[:5] == 0).all() and (apply_mask(image, mask)[5:] == 9).all()


def test_mask_iou():
    a = np.zeros((4, 4), bool)
    b = a.copy()
    assert mask_iou(a, b) == 1.0
    a[:2] = True
    b[1:3] = True
    assert mask_iou(a, b) == 4 / 12


def test_ten_class_names():
    assert len(CLASS_NAMES) == 10


def test_leftovers_of_a_killed_write_are_removed(tmp_path):
    from common.atomic_io import atomic_write_bytes, remove_stale_temporaries

    atomic_write_bytes(tmp_path / "a" / "kept.png", b"x")
    (tmp_path / "a" / ".kept.png.abc123.tmp").write_bytes(b"half")
    assert remove_stale_temporaries(tmp_path) == 1
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["kept.png"]
    assert remove_stale_temporaries(tmp_path / "missing") == 0


def _setup(raw, out, true_masks=None, max_side=0):
    from preprocess.remove_folder import RemovalSetup

    return RemovalSetup(raw, out / "img", out / "masks", out / "copies", true_masks,
                        BackgroundParams(), max_side)


def test_ray_gives_the_same_outputs_as_one_process(tmp_path):
    from preprocess.remove_folder import remove_background_folder

    raw = tmp_path / "raw"
    photos = load_backgrounds()
    for seed in range(6):
        image, _ = composite(_item(), np.random.default_rng(seed), photos, 96)
        atomic_write_bytes(raw / f"item_{seed}.png", encode_png(image))
    (raw / "broken.png").write_bytes(b"not an image")
    files = sorted(p.name for p in raw.iterdir())
    outputs = {}
    for name, options in (("serial", {"workers": 1}), ("ray", {"workers": 2, "ray_address": "local"})):
        skips = SkipLog(tmp_path / name, "01")
        try:
            summary = remove_background_folder(files, _setup(raw, tmp_path / name), skips,
                                               **options)
        finally:
            if "ray_address" in options:
                import ray

                ray.shutdown()
        assert summary["processed"] == 6 and [r[1] for r in skips.rows] == ["broken.png"]
        outputs[name] = {p.relative_to(tmp_path / name): p.read_bytes()
                         for p in sorted((tmp_path / name).rglob("*.png"))}
    assert outputs["serial"] == outputs["ray"] and len(outputs["ray"]) == 12


def test_large_photos_are_worked_on_at_the_working_size(tmp_path):
    import cv2

    from common.images import read_mask, read_rgb
    from preprocess.remove_folder import remove_background_folder

    raw, true_masks = tmp_path / "raw", tmp_path / "true"
    image, mask = composite(_item(), np.random.default_rng(0), load_backgrounds(), 96)
    big = cv2.resize(image, (1200, 1200), interpolation=cv2.INTER_CUBIC)
    raw.mkdir()
    cv2.imwrite(str(raw / "big.jpg"), cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
    atomic_write_bytes(raw / "small.png", encode_png(image))
    big_mask = cv2.resize(mask.astype(np.uint8) * 255, (1200, 1200),
                          interpolation=cv2.INTER_NEAREST)
    atomic_write_bytes(true_masks / "big.png", encode_png(big_mask))
    before = {p.name: p.read_bytes() for p in raw.iterdir()}
    processed = tmp_path / "processed.csv"
    summary = remove_background_folder(["big.jpg", "small.png"],
                                       _setup(raw, tmp_path, true_masks, 300),
                                       SkipLog(tmp_path, "01"), workers=1, processed_csv=processed)
    assert summary["processed"] == 2 and summary["masks_scored"] == 1
    assert summary["working_size_copies"] == 1
    assert summary["mean_mask_iou"] > summary["mean_mask_iou_no_removal"]
    assert read_rgb(tmp_path / "img" / "big.png").shape == (300, 300, 3)
    assert read_mask(tmp_path / "masks" / "big.png").shape == (300, 300)
    assert np.array_equal(read_rgb(tmp_path / "copies" / "big.png"), read_rgb(raw / "big.jpg", 300))
    assert read_rgb(tmp_path / "img" / "small.png").shape == image.shape   # fits: as before
    assert not (tmp_path / "copies" / "small.png").exists()
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == before
    assert [(r["file"], r["raw_copy"]) for r in read_csv_rows(processed)] == \
        [("big.jpg", "big.png"), ("small.png", "")]
    from common.run_index import load_run_index

    atomic_write_csv(tmp_path / "labels_true.csv", ("file", "label", "trainable"),
                     [("big.jpg", "a", 1), ("small.png", "b", 1)])
    records = load_run_index(tmp_path, tmp_path / "img", raw, tmp_path / "copies")
    assert [r.raw_path for r in records] == [tmp_path / "copies" / "big.png", raw / "small.png"]


def test_same_names_in_another_raw_folder_are_remade(tmp_path):
    """A work folder pointed at another raw folder: its photos are processed, not the earlier
    folder's outputs of the same names reused (however old the new files are)."""
    import os

    from common.images import read_rgb
    from preprocess.remove_folder import remove_background_folder

    first, second = tmp_path / "first", tmp_path / "second"
    for folder, side in ((first, 120), (second, 90)):
        image, _ = composite(_item(), np.random.default_rng(side), load_backgrounds(), side)
        atomic_write_bytes(folder / "a.png", encode_png(image))
    os.utime(second / "a.png", (0, 0))              # copied with its old time kept
    for folder, side in ((first, 120), (second, 90)):
        remove_background_folder(["a.png"], _setup(folder, tmp_path), SkipLog(tmp_path, "01"),
                                 workers=1, processed_csv=tmp_path / "processed.csv")
        assert read_rgb(tmp_path / "img" / "a.png").shape[:2] == (side, side)


def test_a_photo_replaced_by_an_older_one_is_remade(tmp_path):
    """A raw file replaced by another photo whose time is older than the outputs (`cp -p` of a
    backup): the last run's listing (size and time of what it was made from) tells."""
    import os

    from common.images import read_rgb
    from preprocess.remove_folder import remove_background_folder

    raw, processed = tmp_path / "raw", tmp_path / "processed.csv"
    for side in (120, 90):
        image, _ = composite(_item(), np.random.default_rng(side), load_backgrounds(), side)
        atomic_write_bytes(raw / "a.png", encode_png(image))
        if side == 90:
            os.utime(raw / "a.png", (0, 0))
        remove_background_folder(["a.png"], _setup(raw, tmp_path), SkipLog(tmp_path, "01"),
                                 workers=1, processed_csv=processed)
        assert read_rgb(tmp_path / "img" / "a.png").shape[:2] == (side, side)
    made = (tmp_path / "img" / "a.png").stat().st_mtime_ns
    remove_background_folder(["a.png"], _setup(raw, tmp_path), SkipLog(tmp_path, "01"),
                             workers=1, processed_csv=processed)
    assert (tmp_path / "img" / "a.png").stat().st_mtime_ns == made     # unchanged: reused
    assert read_csv_rows(processed)[0]["raw_signature"].endswith(":0")


def test_outputs_of_a_removed_photo_are_deleted(tmp_path):
    """A photo taken out of the raw folder: the next run deletes its image, mask and working-size
    copy; the other photo's outputs are reused."""
    from preprocess.remove_folder import remove_background_folder

    raw, processed = tmp_path / "raw", tmp_path / "processed.csv"
    for name, side in (("a.png", 120), ("b.png", 400)):
        image, _ = composite(_item(), np.random.default_rng(side), load_backgrounds(), side)
        atomic_write_bytes(raw / name, encode_png(image))
    remove_background_folder(["a.png", "b.png"], _setup(raw, tmp_path, max_side=300),
                             SkipLog(tmp_path, "01"), workers=1, processed_csv=processed)
    outputs = [tmp_path / folder / "b.png" for folder in ("img", "masks", "copies")]
    assert all(path.exists() for path in outputs)
    made = (tmp_path / "img" / "a.png").stat().st_mtime_ns
    (raw / "b.png").unlink()
    summary = remove_background_folder(["a.png"], _setup(raw, tmp_path, max_side=300),
                                       SkipLog(tmp_path, "01"), workers=1,
                                       processed_csv=processed)
    assert summary["processed"] == 1 and not any(path.exists() for path in outputs)
    assert (tmp_path / "img" / "a.png").stat().st_mtime_ns == made
    assert [row["file"] for row in read_csv_rows(processed)] == ["a.png"]


def test_outputs_listed_for_another_file_are_never_reused(tmp_path):
    from preprocess.remove_folder import RemovalJob, _finished

    for folder in ("img", "masks"):
        atomic_write_bytes(tmp_path / folder / "a.png", b"made from a.tiff")
    setup = _setup(tmp_path / "raw", tmp_path)            # a.jpg is unreadable (missing) too
    assert not _finished(RemovalJob("a.jpg", "a.png", made_from=""), setup, signature="")


def test_files_differing_only_in_the_extension_are_all_kept(tmp_path):
    from preprocess.remove_folder import plan_jobs

    files = ["a/photo.jpg", "a/photo.png", "a/photo.tiff", "b/photo.jpg", "c.JPG", "c.jpg.png"]
    skips = SkipLog(tmp_path, "01")
    assert [(job.file, job.output) for job in plan_jobs(files, skips)] == [
        ("a/photo.jpg", "a/photo.jpg.png"), ("a/photo.png", "a/photo.png.png"),
        ("a/photo.tiff", "a/photo.tiff.png"), ("b/photo.jpg", "b/photo.png"),
        ("c.JPG", "c.png"), ("c.jpg.png", "c.jpg.png")]
    assert not len(skips)
    clash = plan_jobs(["d.jpg", "d.png", "d.jpg.png"], skips)
    assert [job.output for job in clash] == ["d.jpg.png", "d.png.png"]
    assert len(skips) == 1


def test_outputs_made_with_other_settings_are_remade(tmp_path):
    from common.images import read_rgb
    from preprocess.remove_folder import remove_background_folder

    raw = tmp_path / "raw"
    image, _ = composite(_item(), np.random.default_rng(1), load_backgrounds(), 200)
    atomic_write_bytes(raw / "a.png", encode_png(image))

    def run(max_side):
        remove_background_folder(["a.png"], _setup(raw, tmp_path, None, max_side),
                                 SkipLog(tmp_path, "01"), workers=1)
        return read_rgb(tmp_path / "img" / "a.png").shape[:2]

    assert run(0) == (200, 200)
    assert run(100) == (100, 100)                # not the 200 px image left from before
    assert (tmp_path / "copies" / "a.png").exists()
    assert run(0) == (200, 200) and not (tmp_path / "copies" / "a.png").exists()
