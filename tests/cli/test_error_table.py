"""Issue 14, store / CLI / output-path half: one row per bad input or fault, each run as a
newcomer types it (a subprocess, mostly the dummy backend) and checked for its exit code
and the first line it prints -- one clear line, never a traceback unless --debug.

Exit codes: 2 usage or input (including an output path that cannot be written and a
results file another process is writing), 1 a failure during work (for `compare`: a
regression only; its unusable input is 2).
"""

from __future__ import annotations

import fcntl
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import JFK, CliResult, run_cli

QUICK = ["-b", "dummy", "-m", "none", "--language", "en", "-q"]
HELLO = "-O", "text=hello world"


@pytest.fixture(scope="module")
def full_results(tmp_path_factory) -> Path:
    """A complete dummy run: jfk (1 utterance) and librivox (5), 2 repeats."""
    d = tmp_path_factory.mktemp("full")
    r = run_cli("bench", *QUICK, "-d", "jfk", "-d", "librivox", "--repeats", "2", "-o", d / "full.jsonl", cwd=d)
    assert r.rc == 0, r.stderr
    return d / "full.jsonl"


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


@dataclass
class Case:
    id: str
    argv: list[str]
    rc: int
    first: str  # regex matched against the start of the first line
    setup: Callable[[Path, Path], None] = lambda tmp, full: None
    check: Callable[[Path, CliResult], None] = lambda tmp, r: None
    stream: str = "stderr"  # compare prints its verdict on stdout
    traceback: bool = False
    extra: dict = field(default_factory=dict)


def write(name: str, data: bytes | str):
    def setup(tmp: Path, full: Path) -> None:
        p = tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return setup


def unchanged(name: str, data: bytes):
    def check(tmp: Path, r: CliResult) -> None:
        assert (tmp / name).read_bytes() == data, "a file that is not ours was modified"
    return check


def both(*fns):
    return lambda *a: [f(*a) for f in fns]


def cut_copy(name: str, keep: Callable[[list[str]], list[str]]):
    def setup(tmp: Path, full: Path) -> None:
        (tmp / name).write_text("".join(keep(_lines(full))))
    return setup


def no_temp_files(tmp: Path, r: CliResult) -> None:
    leftovers = [p.name for p in tmp.rglob("*") if p.name.startswith(".") or p.suffix in (".tmp", ".partial")]
    assert not leftovers, leftovers


def transcripts(name: str, n: int):
    def check(tmp: Path, r: CliResult) -> None:
        lines = (tmp / name).read_text().splitlines()
        assert len(lines) == n and all(line.endswith("\thello world") for line in lines), lines
    return check


def normal_permissions(name: str):
    def check(tmp: Path, r: CliResult) -> None:
        mask = os.umask(0)
        os.umask(mask)
        assert (tmp / name).stat().st_mode & 0o777 == 0o777 & ~mask
    return check


def stderr_count(text: str, n: int):
    def check(tmp: Path, r: CliResult) -> None:
        assert r.stderr.count(text) == n, r.stderr
    return check


BAD_AUDIO = bytes(range(256)) * 12
NOTES = b"a\nb"
BINARY = bytes(range(256)) * 4
# A results file whose rows lack every field: read fine, then the command fails inside.
HOLLOW = '{"schema_version":1,"record":"measurement"}\n'

CASES = [
    # 1. bench --resume on a file that is not a results file: refused before anything changes.
    Case("resume-notes-file", ["bench", *QUICK, "-d", "jfk", "-o", "n.txt", "--resume"], 2,
         r"whisperbench: error: n.txt is not a whisperbench results file", write("n.txt", NOTES),
         unchanged("n.txt", NOTES)),
    Case("resume-one-line-file", ["bench", *QUICK, "-d", "jfk", "-o", "one.txt", "--resume"], 2,
         r"whisperbench: error: one.txt is not a whisperbench results file", write("one.txt", b"a"),
         unchanged("one.txt", b"a")),
    Case("resume-json-lines-not-ours", ["bench", *QUICK, "-d", "jfk", "-o", "x.jsonl", "--resume"], 2,
         r"whisperbench: error: x.jsonl is not a whisperbench results file", write("x.jsonl", b'{"a": 1}\n{"b"'),
         unchanged("x.jsonl", b'{"a": 1}\n{"b"')),
    # 2. a second writer while one holds the file (here the lock is held by the test; a real
    #    concurrent bench is in tests/bench/test_store.py).
    Case("second-writer", ["bench", *QUICK, "-d", "jfk", "-o", "held.jsonl", "--resume"], 2,
         r"whisperbench: error: held.jsonl is being written by another whisperbench process",
         extra={"hold": "held.jsonl"}),
    # 3. transcribe A B C -o out: the bad file is reported, the others kept; exit 1 at the end.
    Case("transcribe-one-bad-of-three", ["transcribe", str(JFK), "bad.wav", str(JFK), *QUICK[:4], *HELLO, "-o", "out.txt"],
         1, r"whisperbench: error: cannot decode audio file bad.wav", write("bad.wav", BAD_AUDIO),
         both(transcripts("out.txt", 2), no_temp_files)),
    # ... and an unwritable -o fails before any decoding (crash=raise would fail the decode).
    Case("transcribe-output-under-a-file", ["transcribe", str(JFK), *QUICK[:4], "-O", "crash=raise", "-o", "f/out.txt"],
         2, r"whisperbench: error: cannot write output file f/out.txt: f is not a folder", write("f", b""),
         no_temp_files),
    Case("transcribe-output-is-a-folder", ["transcribe", str(JFK), *QUICK[:4], "-O", "crash=raise", "-o", "d"],
         2, r"whisperbench: error: output file d is a folder; give a file path", write("d/keep", b"")),
    # 10. compare: unusable input exits 2, never 1 (1 = regression).
    Case("compare-binary-baseline", ["compare", "bin.jsonl", "{full}", "-q"], 2,
         r"whisperbench: error: bin.jsonl is not a results file \(not UTF-8 text\)", write("bin.jsonl", BINARY)),
    Case("compare-markdown-under-a-file", ["compare", "{full}", "{full}", "-q", "--markdown", "f/x.md"], 2,
         r"whisperbench: error: cannot write --markdown file f/x.md: f is not a folder", write("f", b"")),
    Case("compare-markdown-is-a-folder", ["compare", "{full}", "{full}", "-q", "--markdown", "d"], 2,
         r"whisperbench: error: --markdown file d is a folder", write("d/keep", b"")),
    Case("compare-crash-inside-exits-2", ["compare", "hollow.jsonl", "{full}", "-q"], 2,
         r"whisperbench: error: unexpected KeyError: .*rerun with --debug", write("hollow.jsonl", HOLLOW)),
    # 11. output-path tracebacks.
    Case("report-output-is-a-file", ["report", "{full}", "-o", "existing", "-q"], 2,
         r"whisperbench: error: report folder existing is a file; give a folder path", write("existing", b"")),
    Case("bench-output-is-a-folder-resume", ["bench", *QUICK, "-d", "jfk", "-o", "d", "--resume"], 2,
         r"whisperbench: error: results file d is a folder; give a file path", write("d/keep", b"")),
    Case("bench-output-under-a-file", ["bench", *QUICK, "-d", "jfk", "-o", "f/dir/x"], 2,
         r"whisperbench: error: cannot write results file f/dir/x: f is not a folder", write("f", b"")),
    Case("convert-output-under-a-file", ["convert", "fixture:tiny.en", "--to", "ggml", "-o", "f/dir/x.bin"], 2,
         r"whisperbench: error: cannot write output file .*f/dir/x.bin: .*f is not a folder", write("f", b"")),
    Case("convert-folder-format-onto-a-file", ["convert", "fixture:tiny.en", "--to", "ctranslate2", "-o", "f", "--force"],
         2, r"whisperbench: error: output folder f is a file; give a folder path", write("f", b"x"),
         unchanged("f", b"x")),
    # 12. smaller ones.
    Case("transcribe-folder-as-audio", ["transcribe", "d", *QUICK[:4]], 2,
         r"whisperbench: error: audio file d is a folder; give a file", write("d/keep", b"")),
    Case("bench-folder-as-suite", ["bench", "d", "-q"], 2,
         r"whisperbench: error: suite file d is a folder; give a file", write("d/keep", b"")),
    Case("partial-line-warns-once", ["report", "cut.jsonl", "-o", "rep", "-q", "--no-plots"], 0,
         r"whisperbench: warning: ignoring a partial last line in cut.jsonl",
         cut_copy("cut.jsonl", lambda ls: ls[:-1] + [ls[-1][: len(ls[-1]) // 2]]),
         stderr_count("partial last line", 1)),
    Case("threads-above-cpus", ["transcribe", str(JFK), *QUICK[:4], "--threads", "1000"], 0,
         r"whisperbench: warning: threads=1000 is more than the \d+ CPU\(s\) this process may use",
         check=stderr_count("threads=1000", 1)),
    Case("baseline-save-interrupted-run", ["baseline", "save", "cut", "cut.jsonl"], 0,
         r"whisperbench: warning: baseline 'cut': run \w+ is incomplete \(interrupted\?\): 4 of 12 planned rows",
         cut_copy("cut.jsonl", lambda ls: [l for l in ls if '"record":"measurement"' not in l]
                  + [l for l in ls if '"record":"measurement"' in l][:4])),
    Case("baseline-save-duplicate-rows", ["baseline", "save", "dup", "dup.jsonl"], 0,
         r"whisperbench: warning: baseline 'dup': 3 duplicate measurement row\(s\)",
         cut_copy("dup.jsonl", lambda ls: ls + [l for l in ls if '"record":"measurement"' in l][:3])),
    Case("compare-candidate-measured-far-fewer", ["compare", "{full}", "cut.jsonl", "-q"], 2,
         r"## whisperbench compare: ⚠️ unusable input",
         cut_copy("cut.jsonl", lambda ls: [l for l in ls if '"record":"measurement"' not in l]
                  + [l for l in ls if '"record":"measurement"' in l and '"repeat":0' in l][:3]),
         stream="stdout"),
    Case("convert-folder-permissions", ["convert", "fixture:tiny.en", "--to", "ctranslate2", "-q", "int8", "-o", "ct2",
                                        "--quiet"], 0, r"", check=normal_permissions("ct2"), stream="stderr"),
    # --debug: the traceback only when asked; the exit code does not change.
    Case("unexpected-failure-one-line", ["report", "hollow.jsonl", "-o", "rep", "-q"], 1,
         r"whisperbench: error: unexpected KeyError: .*rerun with --debug for the traceback",
         write("hollow.jsonl", HOLLOW)),
    Case("debug-shows-traceback", ["report", "hollow.jsonl", "-o", "rep", "-q", "--debug"], 1,
         r"Traceback \(most recent call last\):", write("hollow.jsonl", HOLLOW), traceback=True),
    Case("debug-before-the-command", ["--debug", "report", "{full}", "-o", "existing", "-q"], 2,
         r"Traceback \(most recent call last\):", write("existing", b""), traceback=True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_error_table(case: Case, tmp_path: Path, full_results: Path):
    case.setup(tmp_path, full_results)
    argv = [a.replace("{full}", str(full_results)) for a in case.argv]
    held = None
    if "hold" in case.extra:
        (tmp_path / case.extra["hold"]).write_text("")
        held = open(tmp_path / case.extra["hold"], "a")
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
    try:
        r = run_cli(*argv, cwd=tmp_path)
    finally:
        if held:
            held.close()
    text = r.stdout if case.stream == "stdout" else r.stderr
    first = text.strip().splitlines()[0] if text.strip() else ""
    assert r.rc == case.rc, f"exit {r.rc}\nstdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-3000:]}"
    assert re.match(case.first, first), f"first line: {first!r}\nstderr: {r.stderr[-3000:]}"
    assert ("Traceback" in r.stderr) == case.traceback, r.stderr
    if case.rc and not case.traceback and case.id != "transcribe-one-bad-of-three":
        assert len(text.strip().splitlines()) == 1, text  # one line, nothing else
    case.check(tmp_path, r)


def test_unwritable_folder_is_one_line_before_any_work(tmp_path: Path, monkeypatch, capsys):
    """`bench -o /nonexistent/dir/x` as a user without write permission on / : one line,
    exit 2. Run in-process with os.access saying "no" for the folder, since as root (this CI)
    every folder is writable; as any other user a 0555 folder would do the same."""
    from whisperbench.cli.main import main

    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == ro else real_access(p, mode, **kw))
    out = ro / "nonexistent" / "dir" / "x"
    rc = main(["bench", *QUICK, "-d", "jfk", "-O", "crash=raise", "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.strip() == f"whisperbench: error: cannot write results file {out}: no permission to create files in {ro}"
    assert not (ro / "nonexistent").exists()

