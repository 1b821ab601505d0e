from common.stage import code_signature, run_once


def test_code_signature_follows_the_package_sources(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 2\n")
    (package / "notes.txt").write_text("not code")
    first = code_signature(("pkg",), root=tmp_path)
    (package / "notes.txt").write_text("changed, still not code")
    assert code_signature(("pkg",), root=tmp_path) == first
    (package / "sub" / "b.py").write_text("y = 3\n")
    assert code_signature(("pkg",), root=tmp_path) != first


def test_a_finished_stage_reruns_only_when_config_or_code_changed(tmp_path, monkeypatch):
    import common.stage as stage

    calls = []

    def work():
        calls.append(1)
        return {"n": len(calls)}

    assert run_once(tmp_path, "04_cluster", {"K_MAX": 20}, False, work) == {"n": 1}
    assert run_once(tmp_path, "04_cluster", {"K_MAX": 20}, False, work) is None
    assert run_once(tmp_path, "04_cluster", {"K_MAX": 21}, False, work) == {"n": 2}
    monkeypatch.setattr(stage, "code_signature", lambda packages: "upgraded")
    assert run_once(tmp_path, "04_cluster", {"K_MAX": 21}, False, work) == {"n": 3}
    assert run_once(tmp_path, "04_cluster", {"K_MAX": 21}, False, work) is None


def test_rewriting_the_same_output_keeps_the_next_stage_done(tmp_path):
    import os

    from common.atomic_io import atomic_write_text
    from common.stage import input_signatures

    labels = atomic_write_text(tmp_path / "labels_true.csv", "file,label\na.png,bag\n")
    os.utime(labels, ns=(1, 1))                      # as if written long ago
    before = input_signatures(tmp_path, ("labels_true.csv",))
    atomic_write_text(labels, "file,label\na.png,bag\n")       # a re-run, same labels
    assert input_signatures(tmp_path, ("labels_true.csv",)) == before
    atomic_write_text(labels, "file,label\na.png,coat\n")
    assert input_signatures(tmp_path, ("labels_true.csv",)) != before
    assert labels.read_text() == "file,label\na.png,coat\n"


def test_a_long_file_name_gets_a_temporary_name_that_fits(tmp_path):
    from common.atomic_io import atomic_write_bytes

    path = tmp_path / f"{'x' * 246}.png"            # 250 characters: legal, no room for more
    atomic_write_bytes(path, b"data")
    assert path.read_bytes() == b"data" and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_copy_replaces_its_target_whole_or_not_at_all(tmp_path, monkeypatch):
    import shutil

    import pytest

    from common.atomic_io import atomic_copy_file, remove_stale_temporaries

    source, target = tmp_path / "features.npy", tmp_path / "shared" / "features.npy"
    source.write_bytes(b"new rows" * 1000)
    atomic_copy_file(source, target)
    assert target.read_bytes() == source.read_bytes()
    target.write_bytes(b"old rows")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "copyfileobj", killed)
    with pytest.raises(KeyboardInterrupt):
        atomic_copy_file(source, target)
    assert target.read_bytes() == b"old rows" and remove_stale_temporaries(tmp_path) == 0
    assert sorted(p.name for p in target.parent.iterdir()) == ["features.npy"]
