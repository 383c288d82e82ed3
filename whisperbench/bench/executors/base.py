"""What every executor shares: the job of one cell, what it needs from a machine, the
progress display, and the interface the suite runner calls.

An executor runs `CellJob`s and streams back `(job, event)` pairs as they happen. The
events are the cell child process's (`bench/cell_process.py`: started, loaded, cell,
begin, row, failure, done), a failure row for a child that died without saying why
(crash, timeout, out of memory), then one `ended` event per cell:
`{"event": "ended", "seconds": wall seconds of the cell}`.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator

from whisperbench.bench.records import Failure

# The custom resource of an exclusive timing slot: a node declares how many cells may be
# timed on it at once (1: never two side by side), and each cell asks for one slot unless
# its suite sets `[cluster] share_nodes = true`.
SLOT = "whisperbench_slot"


@dataclass(frozen=True)
class Limits:
    """What the child process of every cell is held to (the suite's settings)."""

    timeout_s: float
    max_memory_mb: float = 0.0


@dataclass(frozen=True)
class Resources:
    """What one cell asks of the machine it runs on."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory_mb: float = 0.0  # 0: no reservation
    custom: dict[str, float] = field(default_factory=dict)  # custom resources (node pools, SLOT)


@dataclass
class CellJob:
    """One cell to run: what its child process reads on stdin (`payload`), and the rest the
    runner and the executors need to place it and show it."""

    cell_id: str
    label: str
    payload: dict[str, Any]  # {"cell", "identity", "repeats", "warmups", "skip"}
    expected: int  # (utterance, repeat) rows of the whole cell
    resources: Resources = field(default_factory=Resources)

    @property
    def done(self) -> int:
        return len(self.payload.get("skip", []))


def cell_resources(device: str, threads: int, max_memory_mb: float, cluster: dict[str, Any]) -> Resources:
    """A cell's request: a GPU for a cuda cell, one CPU per thread (at least one), its
    memory cap as a reservation, the suite's custom resources, and a timing slot unless
    the suite lets cells share a node."""
    custom = {str(k): float(v) for k, v in (cluster.get("resources") or {}).items()}
    if not cluster.get("share_nodes", False):
        custom[SLOT] = 1.0
    return Resources(cpus=float(max(1, threads)), gpus=1.0 if device.split(":")[0] == "cuda" else 0.0,
                     memory_mb=float(max_memory_mb or 0.0), custom=custom)


def failure_row(identity: dict[str, Any], error_type: str, error: str, *, utterance_id: str | None = None,
                repeat: int | None = None, **fields: Any) -> dict[str, Any]:
    """A cell-scope failure row written on the cell's behalf (its child could not say why)."""
    return Failure(**identity, scope="cell", utterance_id=utterance_id, repeat=repeat, error_type=error_type,
                   error=error, timestamp=datetime.now(timezone.utc).isoformat(), **fields).to_dict()


class Progress:
    """A tqdm bar of cells on the driver, following --quiet; executors add their detail."""

    def __init__(self, suite_name: str, cells: int, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self._tqdm = tqdm
            self.bar = tqdm(total=cells, desc=f"suite {suite_name}", unit="cell", position=0, dynamic_ncols=True)

    def start(self, job: CellJob, node: str | None = None) -> None:
        """`job` began (on `node`, where the executor knows it)."""

    def row(self, job: CellJob) -> None:
        """One (utterance, repeat) of `job` is recorded."""

    def end(self, job: CellJob, node: str | None = None) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def skip(self) -> None:
        """A cell already measured (resume)."""
        if self.bar is not None:
            self.bar.update(1)

    def message(self, text: str) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Executor(ABC):
    """Runs cells and streams their events back; see the module docstring."""

    name: str = ""

    def start(self) -> None:
        """Get ready to run cells (connect to a cluster); called before the run is recorded."""

    def describe(self) -> dict[str, Any]:
        """What the session record says about where the cells ran."""
        return {"name": self.name}

    def progress(self, suite_name: str, cells: int, quiet: bool) -> Progress:
        return Progress(suite_name, cells, quiet)

    @abstractmethod
    def run(self, jobs: list[CellJob], limits: Limits, progress: Progress) -> Iterator[tuple[CellJob, dict[str, Any]]]:
        """Run `jobs`, yielding `(job, event)` as events arrive; closing the iterator stops
        whatever still runs. On KeyboardInterrupt an executor stops its cells and re-raises
        (the local one first yields what its child had already sent)."""

    def close(self) -> None:
        """Release what the executor started (a local Ray instance)."""
