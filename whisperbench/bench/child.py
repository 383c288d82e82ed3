"""Child processes: the one spawner of suite cells and synthetic cells, and what a child
does first.

Parent side, `spawn` (or `Child`, which keeps how it ended): start `python -m MODULE` in its own session (a terminal's Ctrl-C
reaches the parent only), give it its job as JSON on stdin, yield each JSON line it writes
as it arrives, and kill it when it sends nothing for `timeout_s` or its RSS passes
`max_memory_mb`. The suite runner's executors (`executors/local.py`, also inside a Ray task)
and synthetic timing both start their children through it. On Ctrl-C the child is killed, the messages it had already sent
are still handed over, and KeyboardInterrupt goes on. `ChildExit` says how it ended, in
words a failure row can carry (signal, exit status, the spawner's reason, stderr's tail).

Child side, `start_child`: answer on a private copy of stdout (its own prints and a
runtime's C-level output go to stderr instead), die with the parent on Linux, and dump
the Python stack on a segfault so the failure row can show it.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, BinaryIO, Generator, TextIO

from whisperbench.backends import registry
from whisperbench.memory import RssSampler
from whisperbench.paths import PROJECT_ROOT


def child_env() -> dict[str, str]:
    """The environment for a child: this checkout importable, output unbuffered, the backends
    registered at run time passed on."""
    env = registry.child_env(dict(os.environ))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def signal_name(rc: int) -> str:
    """The name of the signal that ended a child (`rc` as subprocess gives it, negative)."""
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def describe_exit(rc: int) -> str:
    """Why a child ended without an answer, in words."""
    if rc < 0:
        name = signal_name(rc)
        return f"killed by {name}" + (" (likely the kernel's out-of-memory killer)" if name == "SIGKILL" else "")
    return f"exited with status {rc} before finishing"


def stderr_tail(fh: BinaryIO, lines: int = 15) -> str:
    """The last `lines` lines a child wrote to `fh` (its stderr file)."""
    fh.seek(0)
    return "\n".join(fh.read().decode("utf-8", "replace").strip().splitlines()[-lines:])


def start_child() -> TextIO:
    """Call first in a child's main(): returns the protocol stream."""
    import faulthandler

    faulthandler.enable()
    _die_with_parent()
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything else written to stdout goes to stderr
    sys.stdout = sys.stderr
    return proto


def _die_with_parent() -> None:
    """Linux: get SIGKILL if the parent dies, so a hung child never outlives it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:
            os._exit(1)
    except (OSError, AttributeError):
        pass


@dataclass
class ChildExit:
    """How a child process ended."""

    returncode: int
    # Why the spawner killed it: "timeout" (nothing sent for timeout_s), "memory" (RSS over
    # the cap; `detail` says how far), or None.
    killed_for: str | None = None
    detail: str = ""
    stderr_tail: str = ""

    @property
    def error_type(self) -> str:
        return {"timeout": "Timeout", "memory": "OutOfMemory"}.get(self.killed_for or "", "Crash")

    def describe(self, timeout_s: float | None = None) -> str:
        """Why it ended without finishing, in words."""
        if self.killed_for == "timeout":
            return f"timeout: no progress for {timeout_s:g} s (killed)"
        if self.killed_for == "memory":
            return f"out of memory: {self.detail}"
        return f"child process {describe_exit(self.returncode)}"


def spawn(module: str, job: dict[str, Any], *, timeout_s: float | None = None, max_memory_mb: float | None = None,
          cwd: str | None = None, poll_s: float = 0.2) -> Generator[dict[str, Any], None, ChildExit]:
    """Run `python -m module` on `job`; yield each JSON line it writes as it arrives, and
    return (as the generator's value) how it ended. A child over `max_memory_mb` is killed
    before its next message is accepted, so a fast child cannot hand over anything measured
    over the cap. Closing the generator early kills the child."""
    errfile = tempfile.TemporaryFile(mode="w+b")
    proc = subprocess.Popen(
        [sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errfile,
        env=child_env(), cwd=cwd, start_new_session=True,
    )
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        proc.stdin.write(json.dumps(job).encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    rss = RssSampler(proc.pid) if max_memory_mb else None
    killed: list[str] = []  # [reason, detail] once killed

    def kill(reason: str, detail: str = "") -> None:
        killed[:] = [reason, detail]
        proc.kill()

    def over_memory() -> bool:
        if rss is not None and not killed:
            mb = rss.current_mb()
            if mb is not None and mb > max_memory_mb:
                kill("memory", f"RSS {mb:.0f} MB exceeded max_memory_mb={max_memory_mb:g}")
        return bool(killed)

    def parse(line: bytes) -> dict[str, Any] | None:
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            return None  # a partial line from a killed child

    try:
        last = time.monotonic()
        try:
            while True:
                try:
                    line = lines.get(timeout=poll_s if rss is not None or timeout_s else 1.0)
                except queue.Empty:
                    if timeout_s is not None and time.monotonic() - last > timeout_s and not killed:
                        kill("timeout")
                    else:
                        over_memory()
                    continue
                if line is None:
                    break
                last = time.monotonic()
                if over_memory():
                    continue  # measured in a process over its memory cap: the cell fails instead
                message = parse(line)
                if message is not None:
                    yield message
        except KeyboardInterrupt:
            # Stop the child, then hand back every message it had already sent.
            proc.kill()
            reader.join(timeout=5)
            while True:
                try:
                    line = lines.get_nowait()
                except queue.Empty:
                    break
                message = parse(line) if line is not None else None
                if message is not None:
                    yield message
            raise
        rc = proc.wait()
        reader.join(timeout=5)
        return ChildExit(rc, *(killed or [None, ""]), stderr_tail=stderr_tail(errfile))
    finally:
        if proc.poll() is None:  # the caller stopped reading (closed the generator)
            proc.kill()
            proc.wait()
        errfile.close()


class Child:
    """`spawn` as a caller reads it: iterate the messages (once); `exit` is how the child
    ended once they are all read. Leaving the `with` block kills a child still running (a
    caller that stopped reading)."""

    def __init__(self, module: str, job: dict[str, Any], **limits: Any) -> None:
        self._messages = spawn(module, job, **limits)
        self.exit: ChildExit | None = None

    def __iter__(self) -> Generator[dict[str, Any], None, None]:
        self.exit = yield from self._messages

    def __enter__(self) -> "Child":
        return self

    def __exit__(self, *exc: object) -> None:
        self._messages.close()


def run_child(module: str, job: dict[str, Any], **limits: Any) -> tuple[list[dict[str, Any]], ChildExit]:
    """`spawn` for a caller that needs no streaming: every message, and how it ended."""
    with Child(module, job, **limits) as child:
        messages = list(child)
    return messages, child.exit
