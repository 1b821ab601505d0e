"""The `somclust` command: the overview, every subcommand's --help, dispatch to the stages, and
the package metadata it is installed from."""
from __future__ import annotations

import logging
import re
import subprocess
import sys
import tomllib
from types import SimpleNamespace

import pytest

from common.cli import remembered_inputs
from common.errors import SomclustError
from common.stage import LABELS_STAGE, mark_done
from config import load_config
from helpers import ROOT, run_somclust
from somclust import cli
from somclust.stages import ALL, PIPELINE, find_stage


def test_overview_lists_every_stage_in_order(capsys):
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    positions = [text.index(f"  {stage.command} ") for stage in ALL]
    assert positions == sorted(positions) and "  run " in text
    assert "04  Self-Organizing Map" in text
    assert cli.main([]) == 2        # no command: the overview, and a usage error


@pytest.mark.parametrize("command", ["run", *(stage.command for stage in ALL)])
def test_each_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_status:
        cli.main([command, "--help"])
    assert exit_status.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: somclust {command} ") and "--work-dir" in text


def test_run_accepts_the_flags_of_every_stage():
    keys = cli.run_keys()
    for stage in PIPELINE:
        assert set(stage.load().KEYS) <= set(keys), stage.command


def test_only_the_network_stages_load_tensorflow():
    """Importing TensorFlow costs 6-14 s on 2 cores: the stages without a network (evaluate's
    pixel baseline reads images, nothing more) must not pay it at start-up."""
    light = [stage.module for stage in ALL if stage.command not in ("finetune", "extract")]
    probe = ("import importlib, sys\n"
             f"for name in {light!r}: importlib.import_module('somclust.stages.' + name)\n"
             "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_unknown_command_and_stage_names():
    with pytest.raises(SomclustError, match="somclust --help"):
        cli.main(["clutser"])
    assert find_stage("04_cluster") is find_stage("cluster")
    with pytest.raises(ValueError, match="unknown stage"):
        find_stage("05_cluster")


def test_commands_run_the_stages(tiny_run):
    """`somclust run` on a finished run skips every stage; `somclust cluster --force` redoes
    stage 04 with the same result as 04_cluster.py; a bad flag value is one error line."""
    work, run_dir = tiny_run.work, tiny_run.run_dir
    done = run_somclust("run", work_dir=work)
    assert [line.split()[2] for line in done.stdout.splitlines() if line.startswith("== ")] == \
        [stage.command for stage in PIPELINE]
    assert done.stderr.count("already done") == len(PIPELINE)
    before = (run_dir / "clusters.csv").read_bytes()
    redone = run_somclust("cluster", "--force", work_dir=work)
    assert "clusters: " in redone.stdout and (run_dir / "clusters.csv").read_bytes() == before
    bad = run_somclust("cluster", "--som-rows", "many", work_dir=work, check=False)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: SOM_ROWS='many' is not a valid int"]


def test_a_work_folder_remembers_its_raw_folder(tmp_path, monkeypatch):
    """After a run started with --raw-dir, the commands given only --work-dir read that folder;
    a flag or an environment variable names another; no record, or the default folder there
    (a demo built into it), no change."""
    monkeypatch.delenv("RAW_DIR", raising=False)
    work, photos = tmp_path / "work", tmp_path / "photos"
    config = load_config({"WORK_DIR": str(work)})
    assert remembered_inputs(config, {}) == config
    mark_done(work, LABELS_STAGE, {"RAW_DIR": str(photos)})
    assert remembered_inputs(config, {}).RAW_DIR == str(photos)
    assert remembered_inputs(config, {"RAW_DIR": "other"}) == config
    (work / "raw_img").mkdir()                       # the default folder (a demo built there)
    assert remembered_inputs(config, {}) == config
    (work / "raw_img").rmdir()
    monkeypatch.setenv("RAW_DIR", "other")
    assert remembered_inputs(config, {}) == config


def test_a_work_folder_remembers_its_labels_with_its_raw_folder(tmp_path, monkeypatch):
    """The label inputs stage 00 read (a labels CSV, the label source) go with its raw folder:
    remembered where the images are that folder and the key is not given; never for another
    folder's images."""
    for key in ("RAW_DIR", "LABELS_CSV", "LABEL_SOURCE"):
        monkeypatch.delenv(key, raising=False)
    work, photos, labels = tmp_path / "work", tmp_path / "photos", tmp_path / "labels.csv"
    mark_done(work, LABELS_STAGE, {"RAW_DIR": str(photos), "LABELS_CSV": str(labels),
                                   "LABEL_SOURCE": "csv"})
    config = load_config({"WORK_DIR": str(work)})
    remembered = remembered_inputs(config, {})
    assert (remembered.RAW_DIR, remembered.LABELS_CSV, remembered.LABEL_SOURCE) == (
        str(photos), str(labels), "csv")
    same = load_config({"WORK_DIR": str(work), "RAW_DIR": str(photos)})
    assert remembered_inputs(same, {"RAW_DIR": str(photos)}).LABELS_CSV == str(labels)
    named = load_config({"WORK_DIR": str(work), "LABELS_CSV": "mine.csv"})
    kept = remembered_inputs(named, {"LABELS_CSV": "mine.csv"})
    assert (kept.RAW_DIR, kept.LABELS_CSV, kept.LABEL_SOURCE) == (str(photos), "mine.csv", "csv")
    other = load_config({"WORK_DIR": str(work), "RAW_DIR": "other"})
    assert remembered_inputs(other, {"RAW_DIR": "other"}) == other


def test_remembered_inputs_are_logged_only_where_a_stage_reads_them(tmp_path, monkeypatch,
                                                                   caplog):
    """A stage that reads only the images (a review, an export) says which folder it read,
    not which labels CSV stage 00 read; the config carries both either way."""
    for key in ("RAW_DIR", "LABELS_CSV"):
        monkeypatch.delenv(key, raising=False)
    work, photos, labels = tmp_path / "work", tmp_path / "photos", tmp_path / "labels.csv"
    mark_done(work, LABELS_STAGE, {"RAW_DIR": str(photos), "LABELS_CSV": str(labels)})
    config = load_config({"WORK_DIR": str(work)})
    with caplog.at_level(logging.INFO, logger="somclust"):
        remembered = remembered_inputs(config, {}, logged={"RAW_DIR"})
    assert remembered.LABELS_CSV == str(labels)
    assert f"RAW_DIR={photos}" in caplog.text and "LABELS_CSV" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="somclust"):
        remembered_inputs(config, {}, logged={"RUN_DIR"})
    assert caplog.text == ""


def test_labels_from_a_csv_survive_a_command_given_only_the_work_folder(tmp_path):
    """`somclust labels --work-dir W --force` after a run with --raw-dir and --labels-csv reads
    the same CSV (it used to fall back to the folders and drop every label); a named CSV that
    does not exist is one clear error."""
    photos, work, labels = tmp_path / "photos", tmp_path / "work", tmp_path / "labels.csv"
    photos.mkdir()
    for i in range(4):
        (photos / f"p{i}.png").write_bytes((ROOT / "docs" / "report.png").read_bytes())
    labels.write_text("file,label,trainable\np0.png,cat,1\np1.png,dog,1\n")
    run_somclust("labels", "--raw-dir", str(photos), "--labels-csv", str(labels), work_dir=work)
    first = (work / "labels_true.csv").read_text()
    assert "cat" in first and "dog" in first
    again = run_somclust("labels", "--force", work_dir=work)
    assert "LABELS_CSV=" in again.stderr and (work / "labels_true.csv").read_text() == first
    missing = run_somclust("labels", "--labels-csv", str(tmp_path / "nope.csv"), work_dir=work,
                           check=False)
    assert missing.returncode == 2 and missing.stderr.strip().splitlines()[-1].startswith(
        f"error: LABELS_CSV {tmp_path / 'nope.csv'} does not exist")


def test_run_passes_one_raw_folder_to_every_stage(tmp_path, monkeypatch):
    """`somclust run` gives each stage the same RAW_DIR: the work folder's own, the one named,
    or with --demo the folder the demo is built into (never an earlier run's photos)."""
    monkeypatch.delenv("RAW_DIR", raising=False)
    work, photos = tmp_path / "work", tmp_path / "photos"
    mark_done(work, LABELS_STAGE, {"RAW_DIR": str(photos)})
    seen = []
    module = SimpleNamespace(KEYS=("RAW_DIR",), main=lambda flags, overrides, prog:
                             seen.append((prog, overrides["RAW_DIR"])) or 0)
    fake = [SimpleNamespace(command=name, script=name, load=lambda: module)
            for name in ("demo", "labels", "report")]
    monkeypatch.setattr(cli, "DEMO", fake[0])
    monkeypatch.setattr(cli, "PIPELINE", tuple(fake[1:]))
    runs = {(): str(photos), ("--demo",): f"{work}/raw_img", ("--raw-dir", "mine"): "mine"}
    for flags, raw_dir in runs.items():
        seen.clear()
        assert cli.run_all(["--work-dir", str(work), *flags]) == 0
        assert {folder for _, folder in seen} == {raw_dir}
        assert len(seen) == 2 + ("--demo" in flags)


def test_package_metadata_matches_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["somclust"] == "somclust.cli:console_main"
    declared = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    listed = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert listed == declared
    names = {re.split(r"[=<>]", requirement)[0] for requirement in declared}
    assert {"tensorflow-cpu", "keras", "minisom", "albumentations", "scikit-learn"} <= names
