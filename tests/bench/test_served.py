"""Suite engines with `serve = true` (bench.served): the same backend in-process and behind
`whisperbench serve` in one suite, the server's memory and CPU in the rows, the report's
serving-overhead table, a runtime crash behind the server (one failed row), and a server that
dies mid-suite (failed rows, then a resumed run)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from tests.bench.conftest import dummy_suite_toml, manifest_dataset
from whisperbench.bench import read_results
from whisperbench.bench.report import build_report
from whisperbench.bench.runner import run_suite
from whisperbench.bench.suite import load_suite
from whisperbench.errors import WhisperbenchError

pytest.importorskip("uvicorn")


def engines(extra: str, *, both: bool = True) -> str:
    local = f'\n[[engines]]\nbackend = "dummy"\nmodel = "none"\nextra = {extra}\n'
    return (local if both else "") + f'\n[[engines]]\nbackend = "dummy"\nmodel = "none"\nextra = {extra}\nserve = true\n'


def test_one_suite_holds_the_engine_in_process_and_served(write_suite, speech, tmp_path):
    text = dummy_suite_toml(speech, engines=engines("{service_time_s = 0.05}"), repeats=2, warmups=1,
                            datasets=manifest_dataset(speech, "jfk") + manifest_dataset(speech, "librivox", limit=2))
    suite = load_suite(write_suite(text))
    assert len({c.cell_id for c in suite.cells}) == 4 and sum("served" in c.label for c in suite.cells) == 2
    out = tmp_path / "rows.jsonl"
    report = run_suite(suite, out, quiet=True)
    assert report.failures == 0
    df = read_results(out)
    served = df[df["served"] == True]  # noqa: E712 (None elsewhere)
    local = df[df["served"].isna()]
    assert len(served) == len(local) == 2 * 3 and (served["status"] == "ok").all()
    assert (served["backend"] == "dummy").all() and served["implementation"].str.endswith("via whisperbench serve").all()
    assert (served["hypothesis"] == local["hypothesis"].iloc[0]).all()
    assert (served["server_peak_rss_mb"] > 10).all() and (served["server_cpu_seconds"] >= 0).all()
    assert (served["server_decode_seconds"] >= 0.05).all()
    assert (served["decode_seconds"] > served["server_decode_seconds"]).all()  # the client's time holds the server's
    assert local["server_peak_rss_mb"].isna().all()
    md = build_report(out).markdown()
    assert "### Serving overhead" in md
    table = md.split("### Serving overhead", 1)[1].split("<details>")[0]
    assert "dummy none" in table and table.count("| dummy none") == 2  # jfk and librivox


def test_serve_is_checked_with_the_suite(write_suite, speech):
    text = dummy_suite_toml(speech, engines='[[engines]]\nbackend = "dummy"\nmodel = "none"\nserve = "yes"\n')
    with pytest.raises(WhisperbenchError, match="serve must be true or false"):
        load_suite(write_suite(text))
    text = dummy_suite_toml(speech, engines='[[engines]]\nbackend = "openai-api"\nmodel = "http://h/v1"\nserve = true\n')
    with pytest.raises(WhisperbenchError, match="already a client"):
        load_suite(write_suite(text, "b"))


def test_a_runtime_crash_behind_the_server_fails_only_its_row(write_suite, speech, tmp_path):
    # The served dummy aborts (SIGABRT) on its third request: with process isolation (serve's
    # default) only that request fails; the worker restarts and the next repeat is served.
    text = dummy_suite_toml(speech, engines=engines("{crash = 'abort', crash_after = 2}", both=False), repeats=4,
                            warmups=0, datasets=manifest_dataset(speech, "jfk"))
    out = tmp_path / "rows.jsonl"
    run_suite(load_suite(write_suite(text)), out, quiet=True)
    df = read_results(out)
    ok, failed = df[df["status"] == "ok"], df[df["status"] == "failed"]
    assert sorted(ok["repeat"]) == [0, 1, 3] and list(failed["repeat"]) == [2]
    assert failed["error"].str.contains("answered 500").all() and failed["error"].str.contains("SIGABRT").all(), \
        failed["error"].tolist()


def _kill_server_after(answers: int, timeout_s: float = 60.0) -> None:
    """SIGKILL the `whisperbench serve` process this test's suite started (a grandchild: the
    cell's child starts it; the session's `serve_endpoint` servers are children) once it has
    answered `answers` transcriptions."""
    import httpx
    import psutil

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for proc in psutil.Process().children(recursive=True):
            try:
                cmd = proc.cmdline()
            except psutil.Error:
                continue
            if "whisperbench.cli.main" in cmd and "serve" in cmd and proc.ppid() != os.getpid():
                port = cmd[cmd.index("--port") + 1]
                try:
                    done = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()["answers"].get("ok", 0)
                except httpx.HTTPError:
                    continue
                if done >= answers:
                    proc.send_signal(signal.SIGKILL)
                    return
        time.sleep(0.02)
    raise AssertionError("the suite's server did not answer in time")


def test_a_server_dying_mid_suite_gives_failed_rows_and_the_run_resumes(write_suite, speech, tmp_path):
    # The server is killed from outside (as the out-of-memory killer would) after two answers.
    text = dummy_suite_toml(speech, engines=engines("{service_time_s = 0.2}", both=False), repeats=5, warmups=0,
                            datasets=manifest_dataset(speech, "jfk"))
    suite = load_suite(write_suite(text))
    out = tmp_path / "rows.jsonl"
    killer = threading.Thread(target=_kill_server_after, args=(2,))
    killer.start()
    run_suite(suite, out, quiet=True)
    killer.join()
    df = read_results(out)
    ok, failed = df[df["status"] == "ok"], df[df["status"] == "failed"]
    assert len(ok) >= 2 and len(failed) >= 1 and len(ok) + len(failed) == 5
    assert failed["error"].str.contains("cannot reach|answered 5").all(), failed["error"].tolist()
    run_suite(suite, out, resume=True, retry_failed=True, quiet=True)  # a new server for the cell
    df = read_results(out)
    assert sorted(df[df["status"] == "ok"]["repeat"]) == [0, 1, 2, 3, 4]
