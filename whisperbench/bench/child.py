"""Child processes: the one spawner of suite cells and synthetic cells, and what a child
does first. Its generic part (starting `python -m MODULE` with a job, how a child ended,
what a child does first) is `whisperbench.child_process`, shared with the server's workers.

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
import threading
import time
from dataclasses import dataclass
from typing import Any, Generator

from whisperbench.backends import registry
# The generic part lives in the core, so that the server's workers (a lower layer) share it;
# `start_child` and the exit helpers are re-exported for the children that import them here.
from whisperbench.child_process import describe_exit, launch, signal_name, start_child, stderr_tail
from whisperbench.memory import RssSampler

__all__ = ["Child", "ChildExit", "describe_exit", "run_child", "signal_name", "spawn", "start_child", "stderr_tail"]


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
    proc, errfile = launch(module, job, env=registry.child_env(dict(os.environ)), cwd=cwd)
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
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
