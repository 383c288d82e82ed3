"""`whisperbench serve` as a child process on a free loopback port: started, waited for
(`GET /health`), measured (its RSS and CPU time, with psutil) and stopped. Used by the suite
runner for engines with `serve = true` and by the tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

from whisperbench.backends.registry import child_env
from whisperbench.child_process import parent_death_signal
from whisperbench.errors import WhisperbenchError
from whisperbench.memory import peak_rss_mb
from whisperbench.options import LoadOptions

READY_TIMEOUT_S = 120.0


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def serve_command(backend: str, model: str, load_options: LoadOptions, *, port: int, host: str = "127.0.0.1",
                  workers: int = 1, queue_size: int = 8, isolation: str = "process",
                  extra_args: tuple[str, ...] = ()) -> list[str]:
    cmd = [sys.executable, "-m", "whisperbench.cli.main", "serve", "-b", backend, "-m", model,
           "--device", load_options.device, "--compute-type", load_options.compute_type,
           "--threads", str(load_options.threads), "--host", host, "--port", str(port),
           "--workers", str(workers), "--queue-size", str(queue_size), "--isolation", isolation, "--quiet"]
    for key, value in load_options.extra.items():
        cmd += ["-O", f"{key}={json.dumps(value)}"]
    return cmd + list(extra_args)


class ServerProcess:
    """A running `whisperbench serve`; `url` is its API base (ending in /v1)."""

    def __init__(self, backend: str, model: str, load_options: LoadOptions | None = None, *,
                 workers: int = 1, queue_size: int = 8, isolation: str = "process", extra_args: tuple[str, ...] = (),
                 ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        import psutil

        self.host, self.port = "127.0.0.1", free_port()
        self.root = f"http://{self.host}:{self.port}"
        self.url = self.root + "/v1"
        self._log = tempfile.TemporaryFile(mode="w+b")
        cmd = serve_command(backend, model, load_options or LoadOptions(), port=self.port, workers=workers,
                            queue_size=queue_size, isolation=isolation, extra_args=extra_args)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=child_env(dict(os.environ)),
                                     # SIGTERM when the thread that started it ends: a cell process killed on a
                                     # timeout leaves no server behind
                                     preexec_fn=parent_death_signal(signal.SIGTERM))
        self._ps = psutil.Process(self.proc.pid)
        self.peak_rss_mb: float | None = None
        try:
            self._wait_ready(ready_timeout_s)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise WhisperbenchError(f"whisperbench serve exited with code {self.proc.returncode} before it "
                                        f"served: {self.log_tail()}")
            if self.healthy(timeout_s=1.0):
                self.sample()
                return
            time.sleep(0.1)
        raise WhisperbenchError(f"whisperbench serve did not answer /health within {timeout_s:g} s: {self.log_tail()}")

    def healthy(self, timeout_s: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(self.root + "/health", timeout=timeout_s) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.root + "/health", timeout=5) as answer:
            return json.loads(answer.read())

    def sample(self) -> dict[str, float | None]:
        """The server's peak RSS so far and its CPU seconds, its worker processes included
        (`--isolation process`). The peak is the sum of each live process's kernel high-water
        mark (an upper bound: their peaks need not coincide), the largest sum seen; CPU time
        counts workers that ended and were restarted too (psutil's children_* times)."""
        import psutil

        try:
            cpu = self._ps.cpu_times()
            seconds = cpu.user + cpu.system + cpu.children_user + cpu.children_system
            peaks = [peak_rss_mb(self.pid)]
            for child in self._ps.children(recursive=True):
                try:
                    c = child.cpu_times()
                    seconds += c.user + c.system
                    peaks.append(peak_rss_mb(child.pid))
                except psutil.Error:  # it ended meanwhile
                    pass
        except psutil.Error:
            return {"server_peak_rss_mb": self.peak_rss_mb, "server_cpu_seconds": None}
        if peaks[0] is not None:
            peak = sum(p for p in peaks if p is not None)
            self.peak_rss_mb = max(peak, self.peak_rss_mb or 0.0)
        return {"server_peak_rss_mb": self.peak_rss_mb, "server_cpu_seconds": seconds}

    def log_tail(self, lines: int = 5) -> str:
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(no output)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
