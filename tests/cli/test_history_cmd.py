"""`whisperbench history` as a user types it: the pages written, the Markdown printed, and
one clear line with exit 2 on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.results_data import commit_files


def wb(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "whisperbench.cli.main", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("hist-cli")
    commit_files(d / "results", [{"commit": "aaaa111"}, {"commit": "bbbb222", "drop": {"jfk": 5}}])
    return d


def test_history_writes_the_pages_and_prints_markdown(results):
    r = wb("history", results / "results", "--output-dir", results / "site", "--bootstrap", "200", cwd=results)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("## whisperbench history: default")
    assert "- **bbbb222** ctranslate2 fixture:tiny.en int8 cpu · jfk/short: WER +" in r.stdout
    assert r.stderr.strip().startswith("wrote ") and "Traceback" not in r.stderr
    for name in ("index.html", "history.md", "history.json"):
        assert (results / "site" / name).stat().st_size > 0
    assert (results / "site" / "history.md").read_text().strip() == r.stdout.strip()


@pytest.mark.parametrize("args, message", [
    (["missing.jsonl", "-o", "site"], "missing.jsonl: not a results file or folder, nor a baseline name"),
    (["notresults.txt", "-o", "site"], "not a JSON record; is it a results file?"),
    (["RESULTS", "-o", "site", "--max-slowdown", "0.5"], "--max-slowdown must be >= 1"),
    (["RESULTS", "-o", "site", "--bootstrap", "5"], "--bootstrap must be at least 100"),
    (["RESULTS", "-o", "afile"], "is a file; give a folder path"),
    (["RESULTS"], "the following arguments are required: --output-dir"),
])
def test_history_bad_input_one_line_exit_2(results, args, message):
    (results / "notresults.txt").write_text("hello\nworld\n")
    (results / "afile").write_text("x")
    args = [str(results / "results") if a == "RESULTS" else a for a in args]
    r = wb("history", *args, cwd=results)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert message in lines[-1] and "Traceback" not in r.stderr
