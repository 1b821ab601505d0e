import numpy as np
import pytest

from common.images import encode_png
from extract.features import (LocalExtractor, clustered_feature_set, extract_feature_files,
                              extract_features, load_features, same_features)


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


def _dying(predict, at_call: int = 4):
    """``predict`` that raises Killed on its ``at_call``-th call (a stage killed midway)."""
    calls = {"n": 0}

    def dying(pixels):
        calls["n"] += 1
        if calls["n"] == at_call:
            raise Killed()
        return predict(pixels)

    return dying


def test_resume_after_kill_gives_identical_output(tmp_path):
    files, paths = _images(tmp_path / "img", 23)
    reference = extract_features(LocalExtractor(_predict, 8), files, paths, tmp_path / "ref", "f", batch_size=4)
    with pytest.raises(Killed):
        extract_features(LocalExtractor(_dying(_predict), 8), files, paths, tmp_path / "out", "f",
                         batch_size=4)
    summary = extract_features(LocalExtractor(_predict, 8), files, paths, tmp_path / "out", "f", batch_size=4)
    assert reference["extracted"] == 23 and summary["images"] == 23
    np.testing.assert_array_equal(np.load(tmp_path / "ref" / "f.npy"),
                                  np.load(tmp_path / "out" / "f.npy"))
    assert not list((tmp_path / "out").glob(".f.*"))


@pytest.mark.parametrize("threads", [1, 3])
def test_threaded_loading_gives_the_same_rows_in_order(tmp_path, threads):
    files, paths = _images(tmp_path / "img", 23)
    paths[5].write_bytes(b"broken")
    extract_features(LocalExtractor(_predict, 8, threads=0), files, paths,
                     tmp_path / "serial", "f", batch_size=4)
    summary = extract_features(LocalExtractor(_predict, 8, threads), files, paths,
                               tmp_path / "threads", "f", batch_size=4)
    assert summary["invalid"] == 1
    for suffix in (".npy", "_index.csv"):
        assert (tmp_path / "serial" / f"f{suffix}").read_bytes() == \
            (tmp_path / "threads" / f"f{suffix}").read_bytes()


def test_cached_rows_are_reused_and_unreadable_marked(tmp_path):
    files, paths = _images(tmp_path / "img", 6)
    extract_features(LocalExtractor(_predict, 8), files, paths, tmp_path / "out", "f", batch_size=4)
    paths[2].write_bytes(b"broken")
    summary = extract_features(LocalExtractor(_predict, 8), files, paths, tmp_path / "out", "f", batch_size=4)
    assert summary["reused"] == 5 and summary["extracted"] == 1 and summary["invalid"] == 1
    features, kept = load_features(tmp_path / "out", "f")
    assert features.shape == (5, 5) and "002.png" not in kept


def test_rows_are_reused_only_from_the_same_model(tmp_path):
    files, paths = _images(tmp_path / "img", 6)
    extract_features(LocalExtractor(_predict, 8), files, paths, tmp_path / "out", "f",
                     batch_size=4, model_key="model A")
    again = extract_features(LocalExtractor(_predict, 8), files, paths, tmp_path / "out", "f",
                             batch_size=4, model_key="model A")
    assert again["reused"] == 6
    def model_b(pixels):
        return _predict(pixels) + 1.0

    other = extract_features(LocalExtractor(model_b, 8), files, paths, tmp_path / "out", "f",
                             batch_size=4, model_key="model B")
    assert other["extracted"] == 6 and other["reused"] == 0
    extract_features(LocalExtractor(model_b, 8), files, paths, tmp_path / "fresh", "f",
                     batch_size=4, model_key="model B")
    np.testing.assert_array_equal(load_features(tmp_path / "out", "f")[0],
                                  load_features(tmp_path / "fresh", "f")[0])


def test_same_features_compares_rows_and_files(tmp_path):
    files, paths = _images(tmp_path / "img", 6)
    for name, predict in (("a", _predict), ("b", _predict), ("c", _other)):
        extract_features(LocalExtractor(predict, 8), files, paths, tmp_path / "out", name,
                         batch_size=4)
    assert same_features(tmp_path / "out", "a", "b")
    assert not same_features(tmp_path / "out", "a", "c")
    paths[2].write_bytes(b"broken")          # one file fewer in "b": not the same any more
    extract_features(LocalExtractor(_predict, 8), files, paths, tmp_path / "out", "b",
                     batch_size=4)
    assert not same_features(tmp_path / "out", "a", "b")


def _other(pixels):
    return pixels.reshape(len(pixels), -1)[:, 5:8] - 1.0


def _count_decodes(monkeypatch):
    import extract.features

    decoded = []
    read = extract.features.read_square
    monkeypatch.setattr(extract.features, "read_square",
                        lambda path, *args: decoded.append(path) or read(path, *args))
    return decoded


def test_two_networks_decode_each_image_once_and_match_separate_runs(tmp_path, monkeypatch):
    files, paths = _images(tmp_path / "img", 23)
    paths[5].write_bytes(b"broken")
    for name, predict in (("a", _predict), ("b", _other)):
        extract_features(LocalExtractor(predict, 8), files, paths, tmp_path / "apart", name,
                         batch_size=4, model_key=name)
    decoded = _count_decodes(monkeypatch)
    summary = extract_feature_files(LocalExtractor([_predict, _other], 8), files, paths,
                                    tmp_path / "together", {"a": "a", "b": "b"}, batch_size=4)
    assert sorted(decoded) == sorted(paths + [paths[0]])     # + one probe for the sizes
    assert summary["a"]["invalid"] == summary["b"]["invalid"] == 1
    assert summary["b"]["dim"] == 3 and summary["a"]["dim"] == 5
    for name in ("a", "b"):
        for suffix in (".npy", "_index.csv"):
            assert (tmp_path / "apart" / f"{name}{suffix}").read_bytes() == \
                (tmp_path / "together" / f"{name}{suffix}").read_bytes()


def test_an_image_gone_since_the_index_was_made_is_skipped(tmp_path):
    files, paths = _images(tmp_path / "img", 5)
    paths[2].unlink()
    summary = extract_features(LocalExtractor(_predict, 8), files, paths, tmp_path / "out", "f",
                               batch_size=4)
    assert summary["invalid"] == 1
    assert load_features(tmp_path / "out", "f")[1] == [f for i, f in enumerate(files) if i != 2]


def test_one_network_given_for_two_outputs_runs_once_a_batch(tmp_path):
    files, paths = _images(tmp_path / "img", 10)
    calls = []
    counting = lambda pixels: calls.append(len(pixels)) or _predict(pixels)    # noqa: E731
    summary = extract_feature_files(LocalExtractor([counting, counting], 8), files, paths,
                                    tmp_path / "out", {"a": "a", "b": "b"}, batch_size=4)
    assert calls == [1, 4, 4, 2]                       # the size probe, then each batch once
    assert summary["a"]["extracted"] == summary["b"]["extracted"] == 10
    assert (tmp_path / "out" / "a.npy").read_bytes() == (tmp_path / "out" / "b.npy").read_bytes()


def test_only_the_network_whose_model_changed_runs_again(tmp_path, monkeypatch):
    files, paths = _images(tmp_path / "img", 9)
    out = tmp_path / "out"
    extract_feature_files(LocalExtractor([_predict, _other], 8), files, paths, out,
                          {"a": "a", "b": "b"}, batch_size=4)
    before = np.load(out / "b.npy")
    paths[1].write_bytes(encode_png(np.full((12, 12, 3), 7, np.uint8)))    # one image changed
    calls = []

    def counted(pixels):
        calls.append(len(pixels))
        return _predict(pixels) + 1.0

    decoded = _count_decodes(monkeypatch)
    summary = extract_feature_files(LocalExtractor([counted, _other], 8), files, paths, out,
                                    {"a": "a, retrained", "b": "b"}, batch_size=4)
    assert summary["a"]["extracted"] == 9 and summary["b"]["extracted"] == 1
    assert sum(calls) == 9 + 1 and len(decoded) == 9 + 1      # each image once, + the probe
    changed = load_features(out, "b")[0][1]
    np.testing.assert_array_equal(changed, _other(np.full((1, 8, 8, 3), 7, np.uint8))[0])
    np.testing.assert_array_equal(np.delete(np.load(out / "b.npy"), 1, 0), np.delete(before, 1, 0))


def test_two_networks_resume_after_kill(tmp_path):
    files, paths = _images(tmp_path / "img", 23)
    outputs = {"a": "a", "b": "b"}
    extract_feature_files(LocalExtractor([_predict, _other], 8), files, paths, tmp_path / "ref",
                          outputs, batch_size=4)
    with pytest.raises(Killed):
        extract_feature_files(LocalExtractor([_predict, _dying(_other)], 8), files, paths,
                              tmp_path / "out", outputs, batch_size=4)
    assert (tmp_path / "out" / ".a+b.progress.json").exists()
    summary = extract_feature_files(LocalExtractor([_predict, _other], 8), files, paths,
                                    tmp_path / "out", outputs, batch_size=4)
    assert summary["a"]["images"] == summary["b"]["images"] == 23
    for name in outputs:
        np.testing.assert_array_equal(np.load(tmp_path / "ref" / f"{name}.npy"),
                                      np.load(tmp_path / "out" / f"{name}.npy"))
    assert not list((tmp_path / "out").glob(".*"))


def test_the_feature_set_a_clustering_used_is_read_from_its_record():
    """Stage 04's summary names the set it clustered with (a run of the removed
    FEATURE_SET=auto recorded "auto" as its config); older records only their config."""
    auto_run = {"fingerprint": {"FEATURE_SET": "auto"},
                "summary": {"clusters": {"feature_set": "pretrained"}}}
    assert clustered_feature_set(auto_run) == "pretrained"
    assert clustered_feature_set({"fingerprint": {"FEATURE_SET": "both"}, "summary": {}}) == "both"
    assert clustered_feature_set({"fingerprint": {}}) == "finetuned"


def test_refuses_early_when_the_disk_is_too_small(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from common.errors import SomclustError

    files, paths = _images(tmp_path / "img", 5)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10**9, 10**9 - 10**6, 10**6))
    with pytest.raises(SomclustError, match=r"not enough disk space .* 5 x 5 float32 features"):
        extract_features(LocalExtractor(_predict, 8), files, paths, tmp_path / "out", "f", batch_size=4)
    assert not list((tmp_path / "out").glob("*.npy"))


def test_stage_03_on_ray_gives_the_same_features(tiny_run, tmp_path):
    import shutil

    from helpers import run_script

    work = tmp_path / "work"
    shutil.copytree(tiny_run.work, work, symlinks=True)
    features = work / "efficientnet_lite0" / "features"
    shutil.rmtree(features)                        # nothing to reuse: every row is computed
    result = run_script("03_extract_features.py", work, "--ray", "local",
                        EXTRACT_ACTOR_CPUS="1", EXTRACT_BATCH_SIZE="16")
    assert "80 extracted" in result.stdout and "Ray: " in result.stderr
    for name in ("features", "features_pretrained"):
        for suffix in (".npy", "_index.csv"):
            assert (features / f"{name}{suffix}").read_bytes() == \
                (tiny_run.run_dir / "features" / f"{name}{suffix}").read_bytes(), name + suffix


def test_stage_03_runs_a_kept_backbone_once_for_both_feature_files(tiny_run, tmp_path):
    """With the backbone kept as it is (FT_EPOCHS=0 here; a folder without labels of two
    classes alike) both files hold the un-fine-tuned network's features: one pass, no second
    conversion, the same rows as the separate un-fine-tuned network gave."""
    import shutil

    from common.stage import read_record
    from helpers import run_script

    work = tmp_path / "work"
    shutil.copytree(tiny_run.work, work, symlinks=True)
    run_script("02_finetune.py", work, FT_EPOCHS="0")
    result = run_script("03_extract_features.py", work)
    features = work / "efficientnet_lite0" / "features"
    assert "features: 80 images" in result.stdout and "80 extracted" in result.stdout
    used = read_record(work / "efficientnet_lite0", "03_extract_features")["summary"]
    assert used["features"]["openvino_model"] == used["features_pretrained"]["openvino_model"]
    kept, _ = load_features(features, "features")
    np.testing.assert_array_equal(kept, load_features(features, "features_pretrained")[0])
    untuned, _ = load_features(tiny_run.run_dir / "features", "features_pretrained")
    np.testing.assert_allclose(kept, untuned, rtol=1e-5, atol=1e-5)
    local = {f.name: f.read_bytes() for f in features.glob("*.*")}
    shutil.rmtree(features)
    result = run_script("03_extract_features.py", work, "--ray", "local",
                        EXTRACT_ACTOR_CPUS="1", EXTRACT_BATCH_SIZE="16")
    assert "extract features, features_pretrained" in result.stderr       # one pass on Ray too
    assert {f.name: f.read_bytes() for f in features.glob("*.*")} == local
    model = work / "efficientnet_lite0" / "model" / "finetuned.keras"
    saved = model.stat().st_mtime_ns
    run_script("02_finetune.py", work, "--ft-patience", "5", FT_EPOCHS="0")       # runs again
    assert model.stat().st_mtime_ns == saved                  # and keeps the saved backbone


def test_stage_03_records_its_precision_and_recomputes_in_the_other(tiny_run, tmp_path):
    """The default (auto) ran in the precision precision_on gives for its runtime (bfloat16 on
    OpenVINO with native bfloat16, else float32); the other precision's rows are not reused.
    On a CPU without native bfloat16, OpenVINO computes a bfloat16 request in float32: that is
    what is said and recorded, and the float32 rows are reused."""
    import shutil

    from common.stage import read_record
    from extract.runtime import precision_on
    from helpers import run_script

    ran = read_record(tiny_run.run_dir, "03_extract_features")["summary"]["features"]
    assert ran["precision"] == precision_on(ran["runtime"], "auto")
    other = "float32" if ran["precision"] == "bfloat16" else "bfloat16"
    work = tmp_path / "work"
    shutil.copytree(tiny_run.work, work, symlinks=True)
    result = run_script("03_extract_features.py", work, "--extract-precision", other)
    if precision_on(ran["runtime"], other) == ran["precision"]:     # no native bfloat16
        assert "0 extracted, 80 reused" in result.stdout and ", float32)" in result.stdout
    else:
        assert "80 extracted, 0 reused" in result.stdout and f", {other})" in result.stdout
        for name in ("features", "features_pretrained"):
            again, _ = load_features(work / "efficientnet_lite0" / "features", name)
            first, _ = load_features(tiny_run.run_dir / "features", name)
            assert again.dtype == np.float32 and not np.array_equal(again, first)
            cosine = ((again * first).sum(1) / np.linalg.norm(again, axis=1)
                      / np.linalg.norm(first, axis=1))
            assert cosine.min() > 0.98, name  # EfficientNet-Lite0 (ImageNet): 0.983 at 75 px
    other_size = run_script("03_extract_features.py", work, "--image-size", "80", check=False)
    assert other_size.returncode == 2 and "fine-tuned on 75 px images" in other_size.stderr
