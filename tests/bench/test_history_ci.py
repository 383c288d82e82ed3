"""The history CI example: examples/ci/history.sh run as the workflow runs it (a dummy-backend
suite, twice, into one kept-results folder), and the workflow wiring it to the artifact and
GitHub Pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from whisperbench.paths import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "examples" / "ci" / "history.sh"
WORKFLOW = PROJECT_ROOT / "examples" / "ci" / "whisperbench-history.yml"


@pytest.mark.slow
def test_history_script_keeps_results_and_builds_the_pages(tmp_path, speech):
    suite = tmp_path / "suite.toml"
    suite.write_text(f"""
name = "dummy-history"
repeats = 2
warmups = 0
timeout_s = 60
[decode]
language = "en"
[[engines]]
backend = "dummy"
model = "none"
extra = {{text = "and so my fellow americans", seconds_per_audio_second = 0.002}}
[[datasets]]
name = "jfk"
kind = "manifest"
path = "{speech}/jfk/manifest.jsonl"
algorithms = ["short"]
""")
    summary = tmp_path / "summary.md"
    env = {**os.environ, "WHISPERBENCH_SUITE": str(suite), "WHISPERBENCH_HISTORY_RESULTS": str(tmp_path / "kept"),
           "WHISPERBENCH_HISTORY_SITE": str(tmp_path / "site"), "WHISPERBENCH_HISTORY_ARGS": "--bootstrap 200",
           "WHISPERBENCH_CMD": f"{sys.executable} -m whisperbench.cli.main", "GITHUB_STEP_SUMMARY": str(summary)}
    for _ in range(2):
        proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    kept = sorted((tmp_path / "kept").glob("*.jsonl"))
    assert len(kept) == 2  # each run kept beside the earlier one
    data = json.loads((tmp_path / "site" / "history.json").read_text())
    (series,) = data["series"]
    assert len(series["points"]) == 1 and series["points"][0]["runs"] == 2  # one commit, its two runs pooled
    assert (tmp_path / "site" / "index.html").stat().st_size > 1_000_000  # plotly.js inlined
    assert summary.read_text().startswith("## whisperbench history: dummy-history")


def test_workflow_publishes_the_history_as_artifact_and_pages():
    wf = yaml.safe_load(WORKFLOW.read_text())
    steps = wf["jobs"]["history"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert any("bash examples/ci/history.sh" in r for r in runs)
    site = wf["jobs"]["history"]["env"]["WHISPERBENCH_HISTORY_SITE"]
    uses = {s["uses"].split("@")[0]: s for s in steps if "uses" in s}
    assert uses["actions/upload-artifact"]["with"]["path"].rstrip("/") == site
    pages = uses["actions/upload-pages-artifact"]
    assert pages["with"]["path"].rstrip("/") == site and "WHISPERBENCH_PAGES" in pages["if"]
    deploy = wf["jobs"]["pages"]
    assert deploy["needs"] == "history" and deploy["steps"][0]["uses"].startswith("actions/deploy-pages")
    assert wf["permissions"]["pages"] == "write" and wf["permissions"]["id-token"] == "write"
    # The kept results are pushed back, so the next run's history has this commit.
    assert any("git push origin HEAD:whisperbench-results" in r for r in runs)
    assert "history" in SCRIPT.read_text() and os.access(SCRIPT, os.X_OK)
