import numpy as np
import pytest

from common.images import encode_png
from extract.features import extract_features, load_features


def _images(folder, n):
    folder.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"{i:03d}.png"
        path.write_bytes(encode_png(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)))
        paths.append(path)
    return [p.name for p in paths], paths


def _predict(pixels):
    return pixels.reshape(len(pixels), -1)[:, :5] * 2.0


class Killed(Exception):
    pass


def test_resume_after_kill_gives_identical_output(tmp_path):
    files, paths = _images(tmp_path / "img", 23)
    reference = extract_features(_predict, files, paths, tmp_path / "ref", "f", 8, batch_size=4)
    calls = {"n": 0}

    def dying(pixels):
        calls["n"] += 1
        if calls["n"] == 4:
            raise Killed()
        return _predict(pixels)

    with pytest.raises(Killed):
        extract_features(dying, files, paths, tmp_path / "out", "f", 8, batch_size=4)
    summary = extract_features(_predict, files, paths, tmp_path / "out", "f", 8, batch_size=4)
    assert reference["extracted"] == 23 and summary["images"] == 23
    np.testing.assert_array_equal(np.load(tmp_path / "ref" / "f.npy"),
                                  np.load(tmp_path / "out" / "f.npy"))
    assert not list((tmp_path / "out").glob(".f.*"))


@pytest.mark.parametrize("threads", [1, 3])
def test_threaded_loading_gives_the_same_rows_in_order(tmp_path, threads):
    files, paths = _images(tmp_path / "img", 23)
    paths[5].write_bytes(b"broken")
    extract_features(_predict, files, paths, tmp_path / "serial", "f", 8, batch_size=4,
                     loader_threads=0)
    summary = extract_features(_predict, files, paths, tmp_path / "threads", "f", 8,
                               batch_size=4, loader_threads=threads)
    assert summary["invalid"] == 1
    for suffix in (".npy", "_index.csv"):
        assert (tmp_path / "serial" / f"f{suffix}").read_bytes() == \
            (tmp_path / "threads" / f"f{suffix}").read_bytes()


def test_cached_rows_are_reused_and_unreadable_marked(tmp_path):
    files, paths = _images(tmp_path / "img", 6)
    extract_features(_predict, files, paths, tmp_path / "out", "f", 8, batch_size=4)
    paths[2].write_bytes(b"broken")
    summary = extract_features(_predict, files, paths, tmp_path / "out", "f", 8, batch_size=4)
    assert summary["reused"] == 5 and summary["extracted"] == 1 and summary["invalid"] == 1
    features, kept = load_features(tmp_path / "out", "f")
    assert features.shape == (5, 5) and "002.png" not in kept


def test_refuses_early_when_the_disk_is_too_small(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from common.errors import SomclustError

    files, paths = _images(tmp_path / "img", 5)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10**9, 10**9 - 10**6, 10**6))
    with pytest.raises(SomclustError, match=r"not enough disk space .* 5 x 5 float32 features"):
        extract_features(_predict, files, paths, tmp_path / "out", "f", 8, batch_size=4)
    assert not list((tmp_path / "out").glob("*.npy"))
