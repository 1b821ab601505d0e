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
