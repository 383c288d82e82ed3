"""The Transformers.js worker: one long-lived Node.js process (`node/worker.mjs`) per loaded
model, speaking JSON lines over its stdin/stdout, managed from here (start, requests with
timeouts, death, peak memory, close). The adapter (`adapter.py`) drives it."""

from __future__ import annotations

import collections
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

from whisperbench.errors import WhisperbenchError
from whisperbench.memory import peak_rss_mb

NODE_DIR = Path(__file__).resolve().parent / "node"
WORKER = NODE_DIR / "worker.mjs"
NODE_PACKAGE = "@huggingface/transformers"
MIN_NODE_MAJOR = 18


class TransformersJsWorkerError(WhisperbenchError):
    """The Node.js worker died, failed to start, or did not answer in time."""


def node_binary() -> str | None:
    return os.environ.get("WHISPERBENCH_NODE") or shutil.which("node")


def missing_runtime() -> list[str]:
    """What is missing to run this backend (empty when ready). The registry's check hook."""
    missing = []
    node = node_binary()
    if node is None:
        missing.append(f"node (Node.js >= {MIN_NODE_MAJOR} on PATH, or WHISPERBENCH_NODE)")
    if not (NODE_DIR / "node_modules" / NODE_PACKAGE / "package.json").exists():
        missing.append(f"the Node packages of the worker (run: npm ci --prefix {NODE_DIR})")
    return missing


def node_version(node: str) -> str:
    try:
        return subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Worker:
    """One Node.js process speaking JSON lines; never blocks longer than a timeout."""

    def __init__(self, node: str, load_request: dict, load_timeout_s: float) -> None:
        env = dict(os.environ)
        env.setdefault("ONNXRUNTIME_NODE_INSTALL_CUDA", "skip")
        self.proc = subprocess.Popen(
            [node, str(WORKER)], cwd=str(NODE_DIR), env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
        )
        self.pid = self.proc.pid
        self._lines: queue.Queue = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._next_id = 0
        self._lock = threading.Lock()
        self.worker_max_rss_mb: float | None = None  # the worker's own peak RSS report
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.ready = self.request(load_request, load_timeout_s, what="model load")

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)  # EOF: the worker exited

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line.decode("utf-8", "replace").rstrip())

    def stderr_tail(self, n: int = 12) -> str:
        return "\n".join(list(self._stderr)[-n:])

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def request(self, payload: dict, timeout_s: float, what: str = "request") -> dict:
        with self._lock:
            self._next_id += 1
            rid = self._next_id
            payload = {"id": rid, **payload}
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write((json.dumps(payload) + "\n").encode())
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                self._died(what)
            deadline = time.monotonic() + timeout_s
            while True:
                left = deadline - time.monotonic()
                try:
                    line = self._lines.get(timeout=max(left, 0.0))
                except queue.Empty:
                    self.kill()
                    raise TransformersJsWorkerError(
                        f"transformers.js worker (pid {self.pid}) did not answer the {what} within {timeout_s:g} s; "
                        "it was killed" + self._stderr_note()
                    ) from None
                if line is None:
                    self._died(what)
                try:
                    msg = json.loads(line)
                except json.JSONDecodeError:
                    self._stderr.append(f"[stdout] {line.decode('utf-8', 'replace').rstrip()}")
                    continue
                if msg.get("id") not in (rid, None):
                    continue  # a late answer to an earlier, abandoned request
                if not msg.get("ok", True) or ("error" in msg):
                    raise TransformersJsWorkerError(f"transformers.js {what} failed: {msg.get('error')}")
                if msg.get("max_rss_kb"):
                    self.worker_max_rss_mb = msg["max_rss_kb"] / 1024
                return msg

    def _stderr_note(self) -> str:
        tail = self.stderr_tail()
        return f"; worker stderr:\n{tail}" if tail else ""

    def _died(self, what: str) -> None:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        time.sleep(0.05)  # let the stderr reader drain
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        raise TransformersJsWorkerError(
            f"transformers.js worker (pid {self.pid}) died during the {what} ({how})" + self._stderr_note()
        ) from None

    def peak_rss(self) -> float | None:
        """Peak RSS of the worker process, MB: from /proc (Linux), else the worker's own report."""
        return (peak_rss_mb(self.pid) if self.alive else None) or self.worker_max_rss_mb

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def close(self, timeout_s: float = 5.0) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()  # the worker exits when its input closes
                self.proc.wait(timeout=timeout_s)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
