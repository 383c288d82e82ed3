"""`whisperbench serve --isolation process` (the default): a runtime that crashes its worker
process (segfault, abort, the out-of-memory killer's SIGKILL) fails the request it held with
a 500 naming the crash; the server keeps serving, the worker restarts with its model, and
`/health` counts it. Requests on other workers are not disturbed. The dummy backend crashes
on demand (`crash`, `crash_after`: each worker process counts its own calls)."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from whisperbench.backends.openai_api.protocol import SERVER_HEADER, wav_bytes
from whisperbench.serve.worker import _crash_lines

httpx = pytest.importorskip("httpx")
psutil = pytest.importorskip("psutil")

TEXT = "ask not what your country can do for you"


def post(server, seconds: float = 0.05) -> "httpx.Response":
    audio = wav_bytes(np.zeros(int(16000 * seconds), dtype=np.float32))
    return httpx.post(server.url + "/audio/transcriptions", files={"file": ("a.wav", audio)}, timeout=60)


def health(server) -> dict:
    return httpx.get(server.root + "/health", timeout=10).json()


def wait_for(server, condition, timeout_s: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while not condition(h := health(server)):
        assert time.monotonic() < deadline, h
        time.sleep(0.05)
    return h


def crash_error(answer) -> str:
    assert answer.status_code == 500, answer.text
    error = answer.json()["error"]
    assert error["code"] == "runtime_crash" and error["type"] == "server_error", error
    assert "\n" not in error["message"]
    return error["message"]


def test_a_segfault_fails_that_request_only_and_the_worker_restarts(serve_endpoint):
    server = serve_endpoint("dummy", "none", extra={"crash": "segfault", "crash_after": 1, "text": TEXT})
    assert health(server)["isolation"] == "process"
    assert post(server).json() == {"text": TEXT}
    message = crash_error(post(server))  # the worker's second call segfaults
    assert "killed by SIGSEGV" in message and "Fatal Python error: Segmentation fault" in message
    assert "misbehave" in message  # the innermost frames of faulthandler's stack
    assert post(server).json() == {"text": TEXT}  # served by the restarted worker (its first call)
    h = health(server)
    assert h["status"] == "ok" and h["restarts"] == 1 and h["workers_alive"] == 1 and "SIGSEGV" in h["last_crash"]
    assert h["answers"] == {"ok": 2, "runtime_crash": 1}


def test_a_crash_leaves_requests_on_other_workers_alone(serve_endpoint):
    server = serve_endpoint("dummy", "none", workers=2,
                            extra={"crash": "abort", "crash_after": 1, "seconds_per_audio_second": 1.0, "text": TEXT})
    assert post(server).status_code == 200  # worker 0's first call; idle workers are taken in turn
    long: list = []
    in_flight = threading.Thread(target=lambda: long.append(post(server, seconds=1.5)))  # worker 1, 1.5 s
    in_flight.start()
    wait_for(server, lambda h: h["admitted"] == 1)
    message = crash_error(post(server))  # worker 0's second call aborts, while worker 1 decodes
    assert "killed by SIGABRT" in message and "Fatal Python error: Aborted" in message
    in_flight.join()
    assert long[0].status_code == 200 and long[0].json() == {"text": TEXT}
    h = wait_for(server, lambda h: h["restarts"] == 1)
    assert h["workers_alive"] == 2 and h["answers"] == {"ok": 2, "runtime_crash": 1}


def test_a_worker_killed_while_idle_is_restarted_before_it_is_given_a_request(serve_endpoint):
    """The out-of-memory killer may pick an idle worker: no request is failed for it."""
    server = serve_endpoint("dummy", "none", extra={"text": TEXT})
    workers = psutil.Process(server.pid).children()
    assert len(workers) == 1
    restarts = health(server)["restarts"]
    os.kill(workers[0].pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while workers[0].status() != psutil.STATUS_ZOMBIE:  # dead, not yet reaped by the server
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert post(server).json() == {"text": TEXT}
    h = health(server)
    assert h["restarts"] == restarts + 1 and "SIGKILL" in h["last_crash"] and "out-of-memory" in h["last_crash"]
    assert [p.pid for p in psutil.Process(server.pid).children()] != [workers[0].pid]
    # The server's measured CPU time and peak memory take its worker processes in.
    sample = server.sample()
    own = psutil.Process(server.pid).memory_info().rss / 2**20
    own_cpu = sum(psutil.Process(server.pid).cpu_times()[:2])
    assert sample["server_peak_rss_mb"] > own and sample["server_cpu_seconds"] > own_cpu


def test_a_request_that_hangs_past_the_request_timeout_gets_504_and_the_worker_restarts():
    from whisperbench.options import LoadOptions
    from whisperbench.serve.process import ServerProcess

    hang = LoadOptions(extra={"hang": True, "crash_after": 1, "text": TEXT})  # the second call never returns
    with ServerProcess("dummy", "none", hang, extra_args=("--request-timeout", "1.5")) as server:
        assert post(server).json() == {"text": TEXT}
        started = time.monotonic()
        answer = post(server)
        assert answer.status_code == 504, answer.text
        assert 1.5 <= time.monotonic() - started < 15
        error = answer.json()["error"]
        assert error["code"] == "runtime_timeout" and "request timeout of 1.5 s" in error["message"], error
        assert post(server).json() == {"text": TEXT}  # the restarted worker's first call
        h = health(server)
        assert h["restarts"] == 1 and "request timeout" in h["last_crash"]
        assert h["answers"] == {"ok": 2, "runtime_timeout": 1}


def test_thread_isolation_is_still_offered(serve_endpoint):
    server = serve_endpoint("dummy", "none", isolation="thread", extra={"crash": "raise", "crash_after": 1, "text": TEXT})
    answer = post(server)
    assert answer.json() == {"text": TEXT} and "isolation=thread" in answer.headers[SERVER_HEADER]
    assert psutil.Process(server.pid).children() == []  # decoded in the server's own process
    failed = post(server)  # an exception (not a crash) is a 500 in either isolation
    assert failed.status_code == 500 and failed.json()["error"]["code"] == "runtime_error"
    assert health(server)["isolation"] == "thread" and health(server)["restarts"] == 0


def test_crash_lines_keep_the_fatal_error_and_the_innermost_frames():
    dump = """some runtime log line
Fatal Python error: Segmentation fault

Current thread 0x00007f (most recent call first):
  File "ctypes/__init__.py", line 519 in string_at
  File "adapter.py", line 98 in misbehave
  File "adapter.py", line 77 in _one
  File "base.py", line 281 in transcribe

Extension modules: numpy (total: 1)"""
    assert _crash_lines(dump) == ["Fatal Python error: Segmentation fault", 'File "ctypes/__init__.py", line 519 in string_at',
                                  'File "adapter.py", line 98 in misbehave', 'File "adapter.py", line 77 in _one']
    assert _crash_lines("a\nb\n\nc\nd\ne\nf") == ["b", "c", "d", "e", "f"]  # no stack: the last lines


def test_closing_the_pool_wakes_a_request_waiting_for_a_worker_that_cannot_restart():
    """Shutdown never hangs on a request queued behind a dead worker whose restart fails."""
    import asyncio

    from whisperbench.options import DecodeOptions, LoadOptions
    from whisperbench.serve.pool import PoolClosed, WorkerPool
    from whisperbench.serve.worker import WorkerCrashed, WorkerProcess

    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        if started:
            raise RuntimeError("no memory left for another model")
        started.append(WorkerProcess("dummy", "none", LoadOptions(extra={"crash": "abort"})))
        return started[0]

    pool = WorkerPool(start, workers=1, queue_size=1, isolation="process")
    samples = np.zeros(1600, dtype=np.float32)

    async def scenario() -> list:
        job = lambda worker: worker.transcribe(samples, DecodeOptions())  # noqa: E731
        first = asyncio.ensure_future(pool.run(job))
        second = asyncio.ensure_future(pool.run(job))  # waits for the crashed worker's restart
        done = await asyncio.gather(first, return_exceptions=True)
        await asyncio.sleep(0.3)
        assert not second.done() and pool.health()["workers_alive"] == 0
        closer = threading.Thread(target=pool.close, daemon=True)
        closer.start()
        done += await asyncio.gather(asyncio.wait_for(second, 30), return_exceptions=True)
        closer.join(30)
        assert not closer.is_alive()
        return done

    first, second = asyncio.run(scenario())
    assert isinstance(first, WorkerCrashed) and "SIGABRT" in str(first)
    assert isinstance(second, PoolClosed)
