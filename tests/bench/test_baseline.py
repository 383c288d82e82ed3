"""Baselines (whisperbench.bench.baseline): save, show, list, compare by name, and the
committed default baseline."""

from __future__ import annotations

import json

import pandas as pd

from tests.bench.conftest import cli
from whisperbench.bench import read_results
from whisperbench.paths import PROJECT_ROOT


def test_baseline_save_show_list(dummy_runs, work, capsys):
    results = work / "results-bl"
    env = {"WHISPERBENCH_RESULTS_DIR": str(results)}
    assert cli("baseline", "save", "mine", dummy_runs["good"], "--description", "dummy on jfk", env=env) == 0
    d = results / "baselines" / "mine"
    assert sorted(p.name for p in d.iterdir()) == ["environment.json", "results.jsonl", "summary.md"]
    meta = json.loads((d / "environment.json").read_text())
    assert meta["name"] == "mine" and meta["cells"] == 1 and meta["rows"] == 2 and meta["description"] == "dummy on jfk"
    run = meta["runs"][0]
    assert run["cpu_model"] and run["python"] and run["packages"]["numpy"] and run["memory_total_mb"] > 0
    # The stored rows are the saved rows.
    pd.testing.assert_frame_equal(read_results(d), read_results(dummy_runs["good"]))
    assert "| 1 | dummy | dummy | none | float32 | cpu |" in (d / "summary.md").read_text()
    capsys.readouterr()
    assert cli("baseline", "show", "mine", env=env) == 0
    out = capsys.readouterr().out
    assert "# Baseline mine" in out and "dummy on jfk" in out and "### Environment" in out
    assert cli("baseline", "list", env=env) == 0
    assert capsys.readouterr().out.startswith("mine\t")
    # No silent overwrite; --force replaces.
    assert cli("baseline", "save", "mine", dummy_runs["bad"], env=env) == 2
    assert cli("baseline", "save", "mine", dummy_runs["bad"], "--force", env=env) == 0
    assert cli("baseline", "save", "bad/name", dummy_runs["bad"], env=env) == 2
    assert cli("baseline", "show", "nothing", env=env) == 2
    # compare by name.
    assert cli("compare", "mine", dummy_runs["bad"], env=env) == 0


def test_stored_default_baseline_is_usable():
    """results/baselines/default/ (committed) is what the CI example compares against."""
    d = PROJECT_ROOT / "results" / "baselines" / "default"
    df = read_results(d / "results.jsonl")
    assert (df["status"] == "ok").all()
    assert set(zip(df["dataset"], df["algorithm"])) == {
        ("librispeech", "short"), ("librivox", "short"), ("jfk", "short"), ("sonnets", "sequential"),
        ("sonnets", "chunked")}
    meta = json.loads((d / "environment.json").read_text())
    assert meta["name"] == "default" and meta["runs"][0]["cpu_model"]
    from whisperbench.bench.compare import compare

    assert compare(d, d).exit_code == 0


