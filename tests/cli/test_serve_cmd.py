"""`whisperbench serve`: bad arguments are one line and exit 2, before any model loads; the
server itself is tested in tests/serve/ (a real process)."""

from __future__ import annotations

import pytest

from whisperbench.cli.main import main


@pytest.mark.parametrize("argv,message", [
    (["-b", "no-such-backend", "-m", "x"], "unknown backend 'no-such-backend'"),
    (["-b", "dummy", "-m", "none", "--workers", "0"], "--workers must be >= 1"),
    (["-b", "dummy", "-m", "none", "--queue-size", "-1"], "--queue-size must be >= 0"),
    (["-b", "dummy", "-m", "none", "--max-upload-mb", "0"], "--max-upload-mb must be > 0"),
    (["-b", "dummy", "-m", "none", "--compute-type", "int3"], "cannot use compute type 'int3'"),
    (["-b", "dummy", "-m", "none", "-O", "nope=1"], "does not understand option(s) nope"),
    (["-b", "dummy", "-m", "none", "--request-timeout", "0"], "--request-timeout must be > 0"),
    (["-b", "dummy", "-m", "none", "--request-timeout", "5", "--isolation", "thread"],
     "--request-timeout needs --isolation process"),
])
def test_bad_arguments_are_one_line_and_exit_2(argv, message, capsys):
    pytest.importorskip("uvicorn")
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
