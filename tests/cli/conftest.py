"""The CLI as a newcomer runs it: a subprocess, its exit code and the first line it prints.

`run_cli(*args, cwd=...)` is importable (`from tests.cli.conftest import run_cli`) for the
error tables (test_error_table.py, test_error_table_backends.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from whisperbench.paths import PROJECT_ROOT, speech_dir

JFK = speech_dir() / "jfk" / "jfk.flac"


@dataclass
class CliResult:
    rc: int
    stdout: str
    stderr: str

    @property
    def first_line(self) -> str:
        """The first line of stderr (the message), or '' when stderr is empty."""
        lines = self.stderr.strip().splitlines()
        return lines[0] if lines else ""

    @property
    def first_stdout_line(self) -> str:
        lines = self.stdout.strip().splitlines()
        return lines[0] if lines else ""


def run_cli(*args: str | os.PathLike, cwd: str | os.PathLike, env: dict[str, str] | None = None,
            timeout: float = 300) -> CliResult:
    """Run `python -m whisperbench.cli.main ARGS` in `cwd`, results going under cwd/results."""
    full_env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), WHISPERBENCH_RESULTS_DIR=str(Path(cwd) / "results"),
                    WHISPERBENCH_QUIET="1")
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "whisperbench.cli.main", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli(tmp_path: Path):
    """cli(*args) -> CliResult, run in tmp_path."""
    return lambda *args, **kw: run_cli(*args, cwd=tmp_path, **kw)
