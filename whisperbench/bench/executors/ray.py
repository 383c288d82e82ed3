"""The Ray executor: each cell a Ray task on a cluster (`whisperbench bench SUITE --executor ray`).

A task is a streaming generator: on its node it runs the cell through the same child
process supervision as the local executor (`local.cell_events`: timeout, memory cap,
crash description), so a segfault is a failure row, not a lost task, and yields the
child's events as they come; the driver writes them (it stays the only writer of the
results file). Each row says where it ran: the node's hostname, CPU, GPU and driver
(`environment.machine_fields`), its package versions, and `executor`, `node_id` and
`gpu_ids` (the logical GPUs Ray gave the task, which it also put in CUDA_VISIBLE_DEVICES).

Requests: a GPU for a cuda cell, CPUs by threads, memory by max_memory_mb, the suite's
`[cluster] resources`, and one `whisperbench_slot` unless `share_nodes` (see base.SLOT).

Retries: the task itself is never retried by Ray (`max_retries=0`): Ray would replay the
generator from its start on the new node and drop the outputs it had already delivered by
their position, re-measuring the cell. When a node or a Ray worker process is lost (a system error),
the driver submits the cell again, skipping the rows it already holds, up to
`max_retries` times; the scheduler places it on a live node. A cell that fails for its own
reasons (a crash, an exception, Ray's out-of-memory killer) is recorded and not retried.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from whisperbench.bench.executors.base import SLOT, CellJob, Executor, Limits, Progress, Resources, failure_row
from whisperbench.errors import WhisperbenchError, warn

# Ray errors that mean the node or the Ray worker process went away, not that the cell failed.
LOST = ("NodeDiedError", "WorkerCrashedError", "LocalRayletDiedError", "ObjectLostError", "RaySystemError")


def request(resources: Resources) -> dict[str, float]:
    """A cell's needs in Ray's resource names and units (memory in bytes)."""
    need = {"CPU": resources.cpus, "GPU": resources.gpus, "memory": resources.memory_mb * 2**20, **resources.custom}
    return {k: v for k, v in need.items() if v}


def task_options(resources: Resources) -> dict[str, Any]:
    opts: dict[str, Any] = {"num_cpus": resources.cpus, "num_gpus": resources.gpus, "max_retries": 0}
    if resources.memory_mb:
        opts["memory"] = int(resources.memory_mb * 2**20)
    if resources.custom:
        opts["resources"] = dict(resources.custom)
    return opts


@functools.lru_cache(maxsize=1)
def _node_fields() -> dict[str, Any]:
    from whisperbench.bench import environment

    return {**environment.machine_fields(), "packages": environment.package_versions()}


def cell_task(payload: dict[str, Any], limits: Limits, cwd: str) -> Iterator[dict[str, Any]]:
    """The body of a cell's Ray task, on its node: say where it runs, then the cell's events."""
    import ray

    from whisperbench.bench.executors.local import cell_events

    ctx = ray.get_runtime_context()
    placed = {"executor": "ray", "node_id": ctx.get_node_id(),
              "gpu_ids": [str(g) for g in ctx.get_accelerator_ids().get("GPU", [])]}
    node = _node_fields()
    payload = {**payload, "identity": {**payload["identity"], **node, "extra": placed}}
    yield {"event": "placed", "hostname": node["hostname"], "pid": os.getpid(),
           "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), **placed}
    t_cell = time.perf_counter()
    # Paths in a suite are absolute; a model given as a relative path resolves where the driver ran.
    for ev in cell_events(payload, limits, cwd if os.path.isdir(cwd) else None):
        if ev.get("event") != "begin":  # only the child's supervision needs to know which utterance is decoding
            yield ev
    yield {"event": "ended", "seconds": time.perf_counter() - t_cell}


def node_label(hostname: str, node_id: str) -> str:
    return f"{hostname}:{node_id[:6]}"


class RayProgress(Progress):
    """The cells bar, with cells pending, and running / done per node, after it."""

    def __init__(self, suite_name: str, cells: int, quiet: bool) -> None:
        super().__init__(suite_name, cells, quiet)
        self.pending = 0
        self.nodes: dict[str, dict[str, int]] = {}

    def submitted(self, n: int = 1) -> None:
        self.pending += n
        self._show()

    def start(self, job: CellJob, node: str | None = None) -> None:
        self.pending -= 1
        self._node(node)["running"] += 1
        self._show()

    def end(self, job: CellJob, node: str | None = None) -> None:
        if node is None:  # never started (lost before it said where it ran)
            self.pending -= 1
        else:
            self._node(node)["running"] -= 1
            self._node(node)["done"] += 1
        super().end(job, node)
        self._show()

    def lost(self, node: str | None) -> None:
        """A cell's node is gone and the cell goes again (`submitted` counts it as pending)."""
        if node is None:
            self.pending -= 1
        else:
            self._node(node)["running"] -= 1
        self._show()

    def _node(self, node: str | None) -> dict[str, int]:
        return self.nodes.setdefault(node or "?", {"running": 0, "done": 0})

    def status(self) -> str:
        parts = [f"{self.pending} pending"] + [f"{n}: {c['running']} running, {c['done']} done"
                                                for n, c in sorted(self.nodes.items())]
        return " | ".join(parts)

    def _show(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(self.status())


@dataclass
class _Attempt:
    job: CellJob
    tries: int
    received: set[tuple[str, int]] = field(default_factory=set)  # (utterance, repeat) rows already here
    node: str | None = None
    placed: dict[str, Any] = field(default_factory=dict)  # the row fields of where it last ran
    hostname: str | None = None
    started: float = field(default_factory=time.perf_counter)


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None = None, *, max_retries: int = 2) -> None:
        self.address = address
        self.max_retries = max_retries
        self._ray = None
        self._started_here = False

    def start(self) -> None:
        if self._ray is not None:
            return
        try:
            import ray
        except ImportError:
            raise WhisperbenchError("--executor ray needs Ray: pip install 'whisperbench[ray]'") from None
        if not ray.is_initialized():
            if self.address or os.environ.get("RAY_ADDRESS"):
                where = self.address or os.environ["RAY_ADDRESS"]
                try:
                    ray.init(address=self.address, logging_level=logging.WARNING)
                except Exception as exc:  # noqa: BLE001 - Ray raises several kinds for an unreachable cluster
                    raise WhisperbenchError(
                        f"cannot connect to the Ray cluster at {where}: {exc} (a cluster with token authentication "
                        "needs RAY_AUTH_MODE=token and its token in ~/.ray/auth_token or RAY_AUTH_TOKEN)") from None
            else:
                # A local instance, one timing slot: cells run one at a time, as with the local executor.
                # Only small events travel through the object store, hence its small size.
                # address="local": a new instance, never one a `ray start` left running on this machine.
                ray.init(address="local", resources={SLOT: 1}, include_dashboard=False,
                         object_store_memory=200 * 2**20, logging_level=logging.WARNING)
                self._started_here = True
        self._ray = ray

    def describe(self) -> dict[str, Any]:
        ray = self._ray
        nodes = [n for n in ray.nodes() if n.get("Alive")] if ray else []
        return {"name": self.name, "address": self.address or ("local" if self._started_here else "existing"),
                "ray_version": ray.__version__ if ray else None, "nodes": len(nodes),
                "cluster_resources": ray.cluster_resources() if ray else None}

    def progress(self, suite_name: str, cells: int, quiet: bool) -> Progress:
        return RayProgress(suite_name, cells, quiet)

    def close(self) -> None:
        if self._started_here and self._ray is not None:
            self._ray.shutdown()
        self._ray = None
        self._started_here = False

    def check_placeable(self, jobs: list[CellJob]) -> None:
        """Refuse cells no node can ever take (on a cluster we started), or warn that they wait
        (on a given cluster an autoscaler may still add nodes that fit)."""
        bad = [j.label for j in jobs if ":" in str(j.payload["cell"]["load_options"].get("device", ""))]
        if bad:
            raise WhisperbenchError(
                f"{bad[0]}: a device such as 'cuda:1' names a GPU of one machine; with --executor ray use "
                "device = \"cuda\" (Ray gives each cuda cell one GPU and sets CUDA_VISIBLE_DEVICES)")
        nodes = [n["Resources"] for n in self._ray.nodes() if n.get("Alive")]
        stuck = [j for j in jobs if not any(all(n.get(k, 0) >= v for k, v in request(j.resources).items())
                                            for n in nodes)]
        if not stuck:
            return
        need = request(stuck[0].resources)
        text = (f"no node of the Ray cluster can take {len(stuck)} cell(s); {stuck[0].label} needs "
                f"{need}, nodes offer {[{k: v for k, v in n.items() if not k.startswith('node:')} for n in nodes]}")
        if SLOT in need:
            text += (f"; start each node with --resources '{{\"{SLOT}\": 1}}' (one timed cell at a time), "
                     "or set [cluster] share_nodes = true in the suite")
        if self._started_here:
            raise WhisperbenchError(text)
        warn(text + " (waiting for nodes that can)")

    def run(self, jobs: list[CellJob], limits: Limits, progress: Progress) -> Iterator[tuple[CellJob, dict[str, Any]]]:
        self.start()
        ray = self._ray
        self.check_placeable(jobs)
        lost = tuple(getattr(ray.exceptions, n) for n in LOST if hasattr(ray.exceptions, n))
        remote = ray.remote(cell_task)
        cwd = os.getcwd()
        running: dict[Any, _Attempt] = {}
        show = progress if isinstance(progress, RayProgress) else None

        def submit(job: CellJob, tries: int, received: set[tuple[str, int]]) -> None:
            payload = {**job.payload, "skip": [list(k) for k in sorted({*map(tuple, job.payload["skip"]), *received})]}
            gen = remote.options(**task_options(job.resources), name=f"whisperbench: {job.label}").remote(
                payload, limits, cwd)
            running[gen] = _Attempt(job, tries, set(received), placed={"executor": "ray"})
            if show:
                show.submitted()

        def give_up(att: _Attempt, error_type: str, error: str) -> Iterator[tuple[CellJob, dict[str, Any]]]:
            # Where it was lost: the node's hostname when it had said, none of the driver's machine fields.
            machine = {**dict.fromkeys(("cpu_model", "cpus_logical", "gpu_name", "gpu_driver")), "hostname": att.hostname}
            row = failure_row({**att.job.payload["identity"], **machine}, error_type, error, extra=dict(att.placed))
            yield att.job, {"event": "failure", "row": row}
            yield att.job, {"event": "ended", "seconds": time.perf_counter() - att.started}
            progress.end(att.job, att.node)

        for job in jobs:
            submit(job, 0, set())
        try:
            while running:
                ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
                for gen in ready:
                    att = running[gen]
                    try:
                        ev = ray.get(next(gen))
                    except StopIteration:
                        del running[gen]
                        continue
                    except lost as exc:
                        del running[gen]
                        where = att.node or "its node"
                        if att.tries < self.max_retries:
                            if show:
                                show.lost(att.node)
                            progress.message(f"{att.job.label}: {where} lost ({type(exc).__name__}); running it "
                                             f"again elsewhere (retry {att.tries + 1} of {self.max_retries})")
                            submit(att.job, att.tries + 1, att.received)
                        else:
                            yield from give_up(att, "NodeLost", f"{where} lost {att.tries + 1} times; last: "
                                                                f"{_first_line(exc)}")
                        continue
                    except ray.exceptions.OutOfMemoryError as exc:  # Ray's memory monitor killed the task
                        del running[gen]
                        yield from give_up(att, "OutOfMemory", _first_line(exc))
                        continue
                    except ray.exceptions.RayError as exc:  # the task's own code failed (a bug, a bad install)
                        del running[gen]
                        yield from give_up(att, "ExecutorError", _first_line(exc))
                        continue
                    kind = ev.get("event")
                    if kind == "placed":
                        att.node = node_label(ev["hostname"], ev["node_id"])
                        att.placed = {k: ev[k] for k in ("executor", "node_id", "gpu_ids")}
                        att.hostname = ev["hostname"]
                        progress.start(att.job, att.node)
                        continue  # the driver's business only; every row carries the placement
                    if kind == "row" or (kind == "failure" and ev["row"].get("scope") == "utterance"):
                        att.received.add((ev["row"]["utterance_id"], int(ev["row"]["repeat"])))
                    yield att.job, ev
                    if kind == "ended":
                        progress.end(att.job, att.node)
        finally:  # interrupted, or the caller stopped reading: stop what still runs
            for gen in running:
                try:
                    ray.cancel(gen, force=True)
                except Exception:  # noqa: BLE001 - already finished or gone
                    pass


def _first_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".strip()
