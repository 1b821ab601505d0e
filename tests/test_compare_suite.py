"""benchmarks/compare_suite.py: two quality-suite results paired cell by cell, with a test."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from benchmarks.compare_suite import (bootstrap_interval, compare, load_cells, main,
                                      sign_flip_p)

COLUMNS = ("set", "budget", "NMI_seeds", "k_hits_seeds", "n_seeds", "ft_seed")


def _write(path: Path, nmi: dict[tuple[str, float], float], ft_seed: int = 0,
           hits: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for (name, budget), value in nmi.items():
            writer.writerow((name, budget, value, hits, 8, ft_seed))
    return path


def _cells(offset: float = 0.0) -> dict[tuple[str, float], float]:
    return {(name, budget): 0.5 + 0.1 * i + offset
            for i, name in enumerate(("a", "b", "c")) for budget in (0.1, 0.3, 0.5)}


def test_sign_flip_p_is_exact_for_few_cells_and_small_for_a_consistent_gain():
    assert sign_flip_p(np.full(5, 0.01)) == pytest.approx(2 / 32)     # all + or all -
    assert sign_flip_p(np.zeros(7)) == 1.0
    assert sign_flip_p(np.array([0.01, -0.01] * 4)) == 1.0              # mean 0
    assert sign_flip_p(np.full(36, 0.004) + np.linspace(-0.001, 0.001, 36)) < 0.001
    noise = np.random.default_rng(0).normal(0, 0.02, 36)
    assert sign_flip_p(noise - noise.mean() + 0.001) > 0.5             # a gain well inside noise
    assert sign_flip_p(noise) == sign_flip_p(noise)                    # seeded


def test_bootstrap_interval_holds_the_mean_and_closes_on_a_constant():
    d = np.random.default_rng(1).normal(0.01, 0.01, 30)
    low, high = bootstrap_interval(d)
    assert low < d.mean() < high
    assert bootstrap_interval(np.full(10, 0.02)) == pytest.approx((0.02, 0.02))


def test_results_join_per_fine_tuning_seed_and_pair_by_cell(tmp_path):
    results = tmp_path / "results"
    _write(results / "base.csv", _cells(), ft_seed=0)
    _write(results / "base1.csv", _cells(), ft_seed=1)
    _write(results / "new.csv", _cells(0.01), ft_seed=0, hits=6)
    base, new = load_cells("base+base1", tmp_path), load_cells("new", tmp_path)
    assert len(base) == 18 and ("a", 0.1, 1) in base
    result = compare(base, new)
    assert len(result["rows"]) == 9 and result["unpaired"] == 9
    assert result["mean"] == pytest.approx(0.01) and result["up"] == 9 and result["down"] == 0
    assert result["hits"] == (72, 72, 54, 72)
    assert result["budgets"] == pytest.approx({0.1: 0.01, 0.3: 0.01, 0.5: 0.01})


def test_bad_specs_name_the_file_and_the_labels_there(tmp_path):
    _write(tmp_path / "results" / "base.csv", _cells())
    with pytest.raises(SystemExit, match="labels in .*: base"):
        load_cells("nope", tmp_path)
    with pytest.raises(SystemExit, match="also in an earlier file"):
        load_cells("base+base", tmp_path)
    _write(tmp_path / "other.csv", {("z", 0.1): 0.3})
    with pytest.raises(SystemExit, match="share no cell"):
        compare(load_cells("base", tmp_path), load_cells(str(tmp_path / "other.csv"), tmp_path))
    with pytest.raises(SystemExit, match="no column 'ARI'"):
        main(["base", "base", "--work-dir", str(tmp_path), "--score", "ARI"])


def test_main_prints_each_cell_and_the_verdict(tmp_path, capsys):
    _write(tmp_path / "results" / "base.csv", _cells())
    _write(tmp_path / "results" / "same.csv", _cells())
    assert main(["base", "same", "--work-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "a 10% 0 0.500 0.500 +0.000 8/8 -> 8/8" in [" ".join(line.split())
                                                        for line in out.splitlines()]
    assert "mean +0.0000" in out and "sign-flip p = 1.000" in out and "not evidence" in out


def test_the_suite_checks_its_comparison_base_before_any_work(tmp_path, monkeypatch):
    from benchmarks import quality_suite

    for started in ("write_set", "write_set_default"):
        monkeypatch.setattr(quality_suite, started, lambda *_: pytest.fail("the suite started"))
    monkeypatch.setattr("sys.argv", ["quality_suite.py", "--work-dir", str(tmp_path),
                                     "--sets", "toy", "--compare", "missing"])
    with pytest.raises(SystemExit, match="no quality-suite result .*missing.csv"):
        quality_suite.main()
