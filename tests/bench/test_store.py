"""The results store (whisperbench.bench.store): a cut-off line survives, summaries; and fault
injection: concurrent writers, resume of a foreign file, kill mid-write. Afterwards the file holds exactly the rows of an uninterrupted run
(same (cell, utterance, repeat) identities, none twice, one run record), or the second
writer was refused and the file left as it was. Real `bench` processes on the dummy backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import run_cli
from whisperbench.bench import read_records, read_results, store, summarize
from whisperbench.errors import WhisperbenchError
from whisperbench.paths import PROJECT_ROOT

# jfk (1 utterance) + librivox (5), 2 repeats: 12 rows, a few seconds of simulated compute.
BENCH = ["bench", "-b", "dummy", "-m", "none", "--language", "en", "-q", "-d", "jfk", "-d", "librivox",
         "--repeats", "2", "-O", "seconds_per_audio_second=0.03"]


def identities(path: Path) -> Counter:
    """(cell, utterance, repeat) -> how many measurement rows; every line must be a record."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return Counter((r["cell_id"], r["utterance_id"], r["repeat"]) for r in rows if r["record"] == "measurement")


def run_records(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if json.loads(line)["record"] == "run")


def start(*args, cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), WHISPERBENCH_QUIET="1")
    return subprocess.Popen([sys.executable, "-m", "whisperbench.cli.main", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_rows(path: Path, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count('"record":"measurement"') >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path}: fewer than {n} rows after {timeout} s")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Counter:
    d = tmp_path_factory.mktemp("reference")
    r = run_cli(*BENCH, "-o", d / "full.jsonl", cwd=d)
    assert r.rc == 0, r.stderr
    ids = identities(d / "full.jsonl")
    assert len(ids) == 12 and set(ids.values()) == {1}
    return ids


@pytest.mark.slow
def test_two_writers_started_together_one_is_refused(tmp_path, reference):
    out = tmp_path / "r.jsonl"
    a, b = start(*BENCH, "-o", out, cwd=tmp_path), start(*BENCH, "-o", out, cwd=tmp_path)
    results = [(p.wait(timeout=120), p.stderr.read()) for p in (a, b)]
    assert sorted(rc for rc, _ in results) == [0, 2], results
    refused = next(err for rc, err in results if rc == 2).strip()
    assert refused.startswith("whisperbench: error: ") and len(refused.splitlines()) == 1
    assert "being written by another whisperbench process" in refused or "already exists" in refused
    assert run_records(out) == 1
    assert identities(out) == reference


@pytest.mark.slow
def test_resume_while_the_first_writer_runs_is_refused(tmp_path, reference):
    out = tmp_path / "r.jsonl"
    first = start(*BENCH, "-o", out, cwd=tmp_path)
    wait_rows(out, 2)
    second = run_cli(*BENCH, "-o", out, "--resume", cwd=tmp_path)
    assert second.rc == 2
    assert second.stderr.strip() == (f"whisperbench: error: {out} is being written by another whisperbench "
                                     "process; wait for it to finish, or write to another file")
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert run_records(out) == 1
    assert identities(out) == reference


@pytest.mark.slow
def test_kill_mid_write_then_resume_gives_the_uninterrupted_rows(tmp_path, reference):
    out = tmp_path / "r.jsonl"
    p = start(*BENCH, "-o", out, cwd=tmp_path)
    wait_rows(out, 4)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    # The kill's torn write: half of a row, no newline (a real one needs a lucky instant).
    lines = out.read_text().splitlines()
    assert 4 <= sum('"record":"measurement"' in line for line in lines) < 12
    torn = next(line for line in reversed(lines) if '"record":"measurement"' in line)
    with open(out, "a") as fh:
        fh.write(torn[: len(torn) // 2])
    r = run_cli(*BENCH, "-o", out, "--resume", cwd=tmp_path)
    assert r.rc == 0, r.stderr
    assert out.read_text().endswith("\n")
    assert run_records(out) == 1
    assert identities(out) == reference  # parses every line: the torn one is gone


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=2000))
def test_a_file_that_is_not_ours_is_never_modified(tmp_path, data):
    """Whatever a non-empty file holds, unless it starts as our records do, opening it for
    writing (as `bench --resume` does) is refused and leaves every byte in place."""
    if data.startswith(b'{"schema_version":'):
        return
    path = tmp_path / "notes.txt"
    path.write_bytes(data)
    with pytest.raises(WhisperbenchError, match="not a whisperbench results file"):
        store.ResultWriter(path)
    assert path.read_bytes() == data


def test_a_complete_last_record_missing_its_newline_is_kept(tmp_path):
    path = tmp_path / "r.jsonl"
    with store.ResultWriter(path) as w:
        w.write({"record": "run", "run_id": "x"})
        w.write({"record": "measurement", "run_id": "x"})
    path.write_bytes(path.read_bytes()[:-1])  # cut exactly before the last newline
    store.ResultWriter(path).close()
    assert [r["record"] for r in store.read_records(path)] == ["run", "measurement"]


def test_second_writer_in_one_process_is_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    with store.ResultWriter(path) as w:
        w.write({"record": "run", "run_id": "x"})
        with pytest.raises(WhisperbenchError, match="being written by another whisperbench process"):
            store.ResultWriter(path)
    store.ResultWriter(path).close()  # released on close


def test_store_survives_a_cut_off_line_and_summarizes(tmp_path):
    out = tmp_path / "r.jsonl"
    base = {"run_id": "r", "cell_id": "c", "suite": "s", "backend": "b", "runtime_version": "v", "model": "m",
            "model_format": "f", "quantization": "q", "compute_type": "q", "device": "cpu", "threads": 0,
            "dataset": "d", "dataset_hash": "h", "algorithm": "short", "options_hash": "o", "status": "ok",
            "record": "measurement", "ref_words": 4, "hits": 3, "substitutions": 1, "deletions": 0, "insertions": 0,
            "ref_chars": 10, "char_edits": 1, "audio_seconds": 2.0, "tokens": 5, "load_seconds": 0.5,
            "peak_rss_mb": 100.0, "gpu_peak_mb": None, "repeated_5gram_share": 0.0}
    with store.ResultWriter(out) as w:
        for utt, lat in (("u1", [1.0, 0.5, 0.8]), ("u2", [0.2, 0.4, 0.3])):
            for rep, sec in enumerate(lat):
                w.write({**base, "utterance_id": utt, "repeat": rep, "decode_seconds": sec, "rtfx": 2 / sec})
        w.write({**base, "status": "failed", "record": "failure", "cell_id": "c2", "utterance_id": None,
                 "repeat": None, "error": "boom", "rtfx": float("inf")})
    with open(out, "a") as fh:
        fh.write('{"record": "measurement", "cut')  # a kill mid-write
    df = read_results(out)
    assert len(df) == 7 and df["schema_version"].eq(store.SCHEMA_VERSION).all()
    assert read_results(out, include_failures=False)["status"].eq("ok").all()
    s = summarize(df).set_index("cell_id")
    assert s.loc["c", "wer"] == pytest.approx(6 / 24)
    assert s.loc["c", "latency_p50_s"] == pytest.approx(np.percentile([0.8, 0.3], 50))
    assert s.loc["c", "decode_seconds"] == pytest.approx(0.8 + 0.3)  # per-utterance medians
    assert s.loc["c", "decode_seconds_min"] == pytest.approx(0.5 + 0.2)
    assert s.loc["c", "rtfx"] == pytest.approx(4.0 / 1.1)
    assert s.loc["c2", "status"] == "failed" and s.loc["c2", "error"] == "boom"
    # Appending again first drops the partial line.
    store.write(out, {"record": "session", "run_id": "r"})
    assert len(read_records(out)) == 8
    assert out.read_text().count("cut") == 0
