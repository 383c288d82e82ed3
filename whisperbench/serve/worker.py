"""A decode worker in its own process (`whisperbench serve --isolation process`, the default),
so that a runtime that crashes (a segfault, an abort, the out-of-memory killer) takes down
that worker and fails that request, not the server.

Parent side, `WorkerProcess`: started through the project's spawner
(`whisperbench.child_process.launch`: `python -m whisperbench.serve.worker`, the job as JSON
on stdin, stderr kept for the crash report). Requests go over a `multiprocessing.connection`
(a Unix socket with an auth key): the decoding options pickled, the audio as raw float32
bytes, the `Transcription` (or the exception) pickled back.

Child side, `main`: loads the backend once, says it is ready (with the backend's
`describe()`), then decodes one request at a time until told to stop or the parent goes.
"""

from __future__ import annotations

import json
import os
import pickle
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any

import numpy as np

from whisperbench.backends import registry
from whisperbench.child_process import describe_exit, launch, start_child, stderr_tail
from whisperbench.errors import WhisperbenchError
from whisperbench.options import DecodeOptions, LoadOptions
from whisperbench.results import Transcription

MODULE = "whisperbench.serve.worker"


class WorkerCrashed(Exception):
    """The worker process died while it held a request; the message says how (signal or
    exit status, and the end of its stderr)."""


class WorkerTimedOut(WorkerCrashed):
    """The worker held one request longer than its request timeout and was killed."""


class WorkerProcess:
    """One loaded model in a child process. `transcribe` is called by one thread at a time.
    With `request_timeout_s`, a request that gets no answer in that time kills the child
    (WorkerTimedOut): a runtime stuck in native code cannot be interrupted any other way."""

    def __init__(self, backend: str, model: str, load_options: LoadOptions, *,
                 request_timeout_s: float | None = None) -> None:
        from multiprocessing.connection import Client

        self.request_timeout_s = request_timeout_s
        self._dir = tempfile.mkdtemp(prefix="whisperbench-worker-")
        address, key = os.path.join(self._dir, "socket"), secrets.token_bytes(32)
        job = {"backend": backend, "model": model, "load_options": load_options.to_dict(), "address": address,
               "authkey": key.hex()}
        self.proc, self._stderr = launch(MODULE, job, env=registry.child_env(dict(os.environ)),
                                         stdout=subprocess.DEVNULL)
        self.crash: str | None = None  # how it ended, once it has
        self.conn: Any = None
        try:
            while self.conn is None:  # the child listens as soon as it has started
                try:
                    self.conn = Client(address, family="AF_UNIX", authkey=key)
                except (FileNotFoundError, ConnectionRefusedError):
                    if self.proc.poll() is not None:
                        raise WorkerCrashed(f"the serve worker {self.ended()} as it started") from None
                    time.sleep(0.01)
            try:
                kind, value = self.conn.recv()
            except (EOFError, OSError):
                raise WorkerCrashed(f"the serve worker {self.ended()} while it loaded the model") from None
            if kind == "failed":  # the load's own exception: a WhisperbenchError is the user's to fix
                raise value
            self._describe: dict[str, Any] = value
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.crash is None and self.proc.poll() is None

    def describe(self) -> dict[str, Any]:
        """The loaded backend's `describe()`, as the child gave it."""
        return self._describe

    def transcribe(self, samples: np.ndarray, options: DecodeOptions) -> Transcription:
        """The backend's `transcribe` in the child; its exception re-raised here; WorkerCrashed
        when the child dies meanwhile, WorkerTimedOut when it does not answer in time."""
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        try:
            self.conn.send((options, samples.size))
            self.conn.send_bytes(samples)
            if self.request_timeout_s is not None and not self.conn.poll(self.request_timeout_s):
                self.proc.kill()
                self.proc.wait()
                self.crash = f"did not answer within the request timeout of {self.request_timeout_s:g} s and was killed"
                raise WorkerTimedOut(f"the worker process {self.crash}")
            kind, value = self.conn.recv()
        except (EOFError, OSError):
            raise WorkerCrashed(f"the worker process {self.ended()}") from None
        if kind == "error":
            raise value
        return value

    def ended(self) -> str:
        """How the child ended (it is waited for, killed if it lingers), in words."""
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # the connection broke but the child lives on
            self.proc.kill()
            rc = self.proc.wait()
        tail = _crash_lines(stderr_tail(self._stderr, lines=60))
        self.crash = describe_exit(rc) + (f"; its stderr ends: {' | '.join(tail)}" if tail else "")
        return self.crash

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                if self.conn is None:  # not connected yet: nothing to finish
                    raise OSError
                self.conn.send(None)  # stop
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if self.conn is not None:
            self.conn.close()
        self._stderr.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def _crash_lines(text: str, frames: int = 3) -> list[str]:
    """The lines of a dead child's stderr worth a one-line answer: faulthandler's "Fatal
    Python error" and the innermost `frames` frames of its stack when there is one, else the
    last five lines."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    fatal = [i for i, line in enumerate(lines) if line.startswith("Fatal Python error")]
    if not fatal:
        return lines[-5:]
    after = lines[fatal[-1] + 1:]
    return [lines[fatal[-1]]] + [line for line in after if line.startswith("File ")][:frames]


# ----- the child -------------------------------------------------------------------------------

def _portable(exc: Exception) -> Exception:
    """`exc` if it survives pickling, else a RuntimeError that names it."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _answer(conn: Any, backend: Any) -> None:
    """Decode requests until the parent says stop (None) or goes away."""
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        options, n = request
        samples = np.empty(n, dtype=np.float32)
        conn.recv_bytes_into(samples)
        try:
            answer: tuple[str, Any] = ("ok", backend.transcribe(samples, options))
            conn.send(answer)
        except Exception as exc:  # the parent turns it into the request's error answer
            conn.send(("error", _portable(exc)))


def main() -> int:
    from multiprocessing.connection import Listener

    start_child()
    job = json.loads(sys.stdin.read())
    with Listener(job["address"], family="AF_UNIX", authkey=bytes.fromhex(job["authkey"])) as listener:
        conn = listener.accept()
    with conn:
        try:
            from whisperbench import backends

            backend = backends.get(job["backend"])(job["model"], LoadOptions(**job["load_options"]))
        except Exception as exc:
            if not isinstance(exc, WhisperbenchError):
                traceback.print_exc()
            conn.send(("failed", _portable(exc)))
            return 1
        conn.send(("ready", backend.describe()))
        try:
            _answer(conn, backend)
        finally:
            backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
