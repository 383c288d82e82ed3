"""Where a suite's cells run: `local` (one child process at a time on this machine, the
default) or `ray` (each cell a Ray task on a cluster, still in its own child process).
The suite runner (`bench/runner.py`) builds the cells' jobs, hands them to an executor
and writes what comes back; an executor never writes the results file."""

from __future__ import annotations

from whisperbench.bench.executors.base import CellJob, Executor, Limits, Progress, Resources, cell_resources
from whisperbench.errors import WhisperbenchError

EXECUTORS = ("local", "ray")


def get(name: str = "local", *, address: str | None = None) -> Executor:
    """The executor called `name`; `address` (a Ray cluster) only goes with "ray"."""
    if name not in EXECUTORS:
        raise WhisperbenchError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
    if address and name != "ray":
        raise WhisperbenchError("--address names a Ray cluster: it goes with --executor ray")
    if name == "ray":
        from whisperbench.bench.executors.ray import RayExecutor

        return RayExecutor(address=address)
    from whisperbench.bench.executors.local import LocalExecutor

    return LocalExecutor()


__all__ = ["EXECUTORS", "CellJob", "Executor", "Limits", "Progress", "Resources", "cell_resources", "get"]
