"""The local executor: one cell at a time on this machine, each in its own child process
(`python -m whisperbench.bench.cell_process`, in its own session, so a terminal's Ctrl-C
reaches the runner only).

`cell_events` is the supervision of one child, used here and inside a Ray task: it kills a
child that reports nothing for `timeout_s` or whose RSS passes `max_memory_mb`, turns a
crash (signal, exit) into a failure row, and on Ctrl-C kills the child and still hands
back every event the child had already sent.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Iterator

from whisperbench.bench.child import child_env, describe_exit, stderr_tail
from whisperbench.bench.executors.base import CellJob, Executor, Limits, Progress, failure_row


class LocalProgress(Progress):
    """The cells bar, and under it a bar of the running cell's utterances."""

    def __init__(self, suite_name: str, cells: int, quiet: bool) -> None:
        super().__init__(suite_name, cells, quiet)
        self.cell_bar = None

    def start(self, job: CellJob, node: str | None = None) -> None:
        if not self.quiet:
            self.cell_bar = self._tqdm(total=job.expected, initial=job.done, desc=job.label, unit="utt", position=1,
                                       leave=False, dynamic_ncols=True)

    def row(self, job: CellJob) -> None:
        if self.cell_bar is not None:
            self.cell_bar.update(1)

    def end(self, job: CellJob, node: str | None = None) -> None:
        if self.cell_bar is not None:
            self.cell_bar.close()
            self.cell_bar = None
        super().end(job, node)

    def close(self) -> None:
        if self.cell_bar is not None:
            self.cell_bar.close()
        super().close()


class LocalExecutor(Executor):
    name = "local"

    def progress(self, suite_name: str, cells: int, quiet: bool) -> Progress:
        return LocalProgress(suite_name, cells, quiet)

    def run(self, jobs: list[CellJob], limits: Limits, progress: Progress) -> Iterator[tuple[CellJob, dict[str, Any]]]:
        for job in jobs:
            progress.start(job)
            t_cell = time.perf_counter()
            for event in cell_events(job.payload, limits):
                yield job, event
            yield job, {"event": "ended", "seconds": time.perf_counter() - t_cell}
            progress.end(job)


def cell_events(job: dict[str, Any], limits: Limits, cwd: str | None = None) -> Iterator[dict[str, Any]]:
    """Run one cell's child process on `job` and yield its events, then a failure row if it
    died without reporting one (see the module docstring)."""
    identity = job["identity"]
    errfile = tempfile.TemporaryFile(mode="w+b")
    proc = subprocess.Popen(
        [sys.executable, "-m", "whisperbench.bench.cell_process"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errfile, env=child_env(), cwd=cwd,
        start_new_session=True,  # Ctrl-C reaches the runner, which then stops the child
    )
    events: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            events.put(line)
        events.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        proc.stdin.write(json.dumps(job).encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass

    current: tuple[str | None, int | None] = (None, None)
    finished = False
    reported_failure = False
    killed_for: str | None = None
    last = time.monotonic()
    ps = None
    if limits.max_memory_mb:
        import psutil

        try:
            ps = psutil.Process(proc.pid)
        except psutil.Error:
            ps = None

    def parse(line: bytes) -> dict[str, Any] | None:
        nonlocal current, finished, reported_failure
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            return None  # a partial line from a killed child
        kind = ev.get("event")
        if kind == "begin":
            current = (ev["utterance_id"], ev["repeat"])
        elif kind in ("row", "failure"):
            current = (None, None)
            reported_failure |= kind == "failure"
        elif kind == "done":
            finished = True
        return ev

    def over_memory() -> bool:
        """Kill the child when its RSS passes max_memory_mb (sampled while it is quiet
        and before each of its events is accepted, so a fast child cannot outrun it)."""
        nonlocal killed_for
        if ps is None or killed_for is not None:
            return killed_for is not None
        try:
            rss = ps.memory_info().rss / 2**20
        except Exception:
            return False
        if rss > limits.max_memory_mb:
            killed_for = f"out of memory: RSS {rss:.0f} MB exceeded max_memory_mb={limits.max_memory_mb:g}"
            proc.kill()
        return killed_for is not None

    try:
        try:
            while True:
                try:
                    line = events.get(timeout=0.2 if ps is not None else 1.0)
                except queue.Empty:
                    if time.monotonic() - last > limits.timeout_s:
                        killed_for = f"timeout: no progress for {limits.timeout_s:g} s"
                        proc.kill()
                    else:
                        over_memory()
                    continue
                if line is None:
                    break
                last = time.monotonic()
                if over_memory():
                    continue  # measured in a process over its memory cap: the cell fails instead
                ev = parse(line)
                if ev is not None:
                    yield ev
        except KeyboardInterrupt:
            # Stop the child, then hand back every event it had already sent.
            proc.kill()
            reader.join(timeout=5)
            while True:
                try:
                    line = events.get_nowait()
                except queue.Empty:
                    break
                ev = parse(line) if line is not None else None
                if ev is not None:
                    yield ev
            raise
        rc = proc.wait()
        reader.join(timeout=5)
        if finished and rc == 0:
            return
        if reported_failure and rc == 1 and killed_for is None:
            return  # the child recorded why it stopped
        if killed_for:
            error, etype = killed_for, "Timeout" if killed_for.startswith("timeout") else "OutOfMemory"
        else:
            etype, error = "Crash", f"child process {describe_exit(rc)}"
        utt, rep = current
        yield {"event": "failure", "row": failure_row(identity, etype, error, utterance_id=utt, repeat=rep,
                                                       stderr_tail=stderr_tail(errfile), returncode=rc)}
    finally:
        if proc.poll() is None:  # the caller stopped reading (closed this generator)
            proc.kill()
            proc.wait()
        errfile.close()
