"""The local executor: one cell at a time on this machine, each in its own child process
(`python -m whisperbench.bench.cell_process`, in its own session, so a terminal's Ctrl-C
reaches the runner only).

`cell_events` is the supervision of one child, used here and inside a Ray task: the
child-process spawner (`bench/child.spawn`) kills a child that reports nothing for
`timeout_s` or whose RSS passes `max_memory_mb`, and on Ctrl-C kills it and still hands
back every event it had already sent; a crash (signal, exit) becomes a failure row here.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

from whisperbench.bench.child import Child
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
    """Run one cell's child process on `job` (through the child-process spawner) and yield
    its events, then a failure row if it died without reporting one."""
    identity = job["identity"]
    current: tuple[str | None, int | None] = (None, None)
    finished = False
    reported_failure = False
    with Child("whisperbench.bench.cell_process", job, timeout_s=limits.timeout_s,
               max_memory_mb=limits.max_memory_mb or None, cwd=cwd) as child:
        for ev in child:
            kind = ev.get("event")
            if kind == "begin":
                current = (ev["utterance_id"], ev["repeat"])
            elif kind in ("row", "failure"):
                current = (None, None)
                reported_failure |= kind == "failure"
            elif kind == "done":
                finished = True
            yield ev
    ended = child.exit
    if finished and ended.returncode == 0:
        return
    if reported_failure and ended.returncode == 1 and ended.killed_for is None:
        return  # the child recorded why it stopped
    utt, rep = current
    yield {"event": "failure", "row": failure_row(identity, ended.error_type, ended.describe(limits.timeout_s),
                                                   utterance_id=utt, repeat=rep, stderr_tail=ended.stderr_tail,
                                                   returncode=ended.returncode)}
