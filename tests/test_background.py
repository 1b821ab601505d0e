import numpy as np

from common.atomic_io import atomic_write_bytes
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
            summary = remove_background_folder(files, raw, tmp_path / name / "img",
                                               tmp_path / name / "masks", None,
                                               BackgroundParams(), skips, **options)
        finally:
            if "ray_address" in options:
                import ray

                ray.shutdown()
        assert summary["processed"] == 6 and [r[1] for r in skips.rows] == ["broken.png"]
        outputs[name] = {p.relative_to(tmp_path / name): p.read_bytes()
                         for p in sorted((tmp_path / name).rglob("*.png"))}
    assert outputs["serial"] == outputs["ray"] and len(outputs["ray"]) == 12
