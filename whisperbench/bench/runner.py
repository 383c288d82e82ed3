"""The suite runner: one job per cell, run by an executor, rows written as they arrive.

The runner is the only writer of the results file. It builds each cell's job and hands
them to an executor (`bench/executors`: `local`, one child process per cell on this
machine, the default; `ray`, each cell a Ray task on a cluster, still in its own child
process), which streams back the cells' rows, failures (crashes, timeouts, out of memory,
lost nodes) and records as they happen. On Ctrl-C the executor stops its cells, the
runner writes every row already sent, and stops. `resume=True` skips (cell, utterance,
repeat) rows already measured and cells already recorded as failed, whichever executor
wrote them.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from whisperbench.bench import environment, store
from whisperbench.bench.executors import CellJob, Executor, Limits, Progress, cell_resources
from whisperbench.bench.records import RowIdentity
from whisperbench.bench.suite import Cell, Suite
from whisperbench.errors import WhisperbenchError, warn


@dataclass
class RunReport:
    output: Path
    run_id: str
    wall_seconds: float = 0.0
    rows_written: int = 0
    failures: int = 0
    cells_run: int = 0
    cells_skipped: int = 0
    interrupted: bool = False
    # Seconds spent inside backend calls, as the cells' child processes measured them.
    decode_seconds: float = 0.0
    load_seconds: float = 0.0
    warmup_seconds: float = 0.0
    cell_seconds: list[float] = field(default_factory=list)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def default_output(suite: Suite) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in suite.name)
    return store_dir() / f"bench-{safe}-{stamp}.jsonl"


def store_dir() -> Path:
    from whisperbench.paths import results_dir

    return results_dir()


def latest_output(suite: Suite) -> Path | None:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in suite.name)
    found = sorted(store_dir().glob(f"bench-{safe}-*.jsonl"))
    return found[-1] if found else None


def cell_identity(cell: Cell, suite: Suite, run_id: str, env: dict[str, Any]) -> RowIdentity:
    """The identity fields of every row of a cell (the child process adds what only a loaded model knows)."""
    from whisperbench import backends
    from whisperbench.text import normalizer_version

    cls = backends.adapter_class(cell.engine.backend)
    lo = cell.engine.load_options
    return RowIdentity(
        run_id=run_id, cell_id=cell.cell_id, suite=suite.name,
        backend=cell.engine.backend, runtime_version=cls.runtime_version(),
        model=cell.engine.model, model_format=cls.capabilities.model_format,
        weights_quantization=None, compute_type=lo.compute_type, quantization=lo.compute_type,
        device=lo.device, threads=lo.threads, load_extra=dict(lo.extra), served=True if cell.engine.served else None,
        dataset=cell.dataset.name, dataset_kind=cell.dataset.spec.kind, dataset_path=cell.dataset.spec.path,
        dataset_hash=cell.dataset.content_hash, algorithm=cell.options.algorithm, variant=cell.variant,
        perturbation=cell.dataset.spec.perturb.to_dict() if cell.dataset.spec.perturb else {},
        implementation=cls.capabilities.algorithms.get(cell.options.algorithm),
        options_hash=cell.options.hash(), options=cell.options.to_dict(), normalizer=normalizer_version(),
        **environment.machine_fields(env["machine"]), packages=env["packages"],
        git_commit=env["git_commit"], git_dirty=env["git_dirty"],
    )


def cell_payload(cell: Cell) -> dict[str, Any]:
    """What a child process needs to rebuild a cell: engine, load options, dataset (and the
    content hash it must still have), decoding options."""
    return {
        "backend": cell.engine.backend, "model": cell.engine.model,
        "load_options": cell.engine.load_options.to_dict(), "served": cell.engine.served,
        "dataset": cell.dataset.spec.to_dict(), "dataset_hash": cell.dataset.content_hash,
        "options": cell.options.to_dict(), "variant": cell.variant,
    }


def run_suite(
    suite: Suite,
    output: str | Path | None = None,
    *,
    resume: bool = False,
    retry_failed: bool = False,
    quiet: bool = False,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    executor: Executor | None = None,
) -> RunReport:
    """Run `suite`'s cells on `executor` (default: the local one), writing every row to `output`."""
    if executor is None:
        from whisperbench.bench.executors.local import LocalExecutor

        executor = LocalExecutor()
    t_start = time.perf_counter()
    if output is None:
        output = (latest_output(suite) if resume else None) or default_output(suite)
    output = Path(output)
    done: set[tuple[str, str, int]] = set()
    failed_cells: set[str] = set()
    run_id = None
    has_run = False
    env = environment.snapshot()
    # Locks the file (one writer), refuses a file that is not a results file before changing
    # it, and without `resume` refuses one that already holds results.
    writer = store.ResultWriter(output, new=not resume)
    try:
        records = store.read_records(output) if output.stat().st_size > 0 else []
        if output.stat().st_size > 0:
            runs = [r for r in records if r.get("record") == "run"]
            if not runs:
                raise WhisperbenchError(f"{output} has no run record; it is not a bench results file")
            run = runs[0]
            has_run = True
            if run.get("suite_hash") != suite.suite_hash:
                raise WhisperbenchError(
                    f"{output} was started with a different suite (or different datasets/options); "
                    "resume it with the same suite, or write to another --output"
                )
            run_id = run["run_id"]
        for r in records:
            if r.get("record") == "measurement":
                done.add((r["cell_id"], r["utterance_id"], int(r["repeat"])))
            elif r.get("record") == "failure":
                if retry_failed:
                    continue
                if r.get("scope") == "utterance":
                    done.add((r["cell_id"], r["utterance_id"], int(r["repeat"])))
                else:  # the cell stopped (crash, timeout, out of memory, load error)
                    failed_cells.add(r["cell_id"])
        executor.start()  # e.g. connect to a cluster: fails before anything is written
    except BaseException:
        writer.close()
        executor.close()
        raise
    run_id = run_id or uuid.uuid4().hex[:16]
    report = RunReport(output=output, run_id=run_id)
    progress = executor.progress(suite.name, len(suite.cells), quiet)
    try:
        if not has_run:
            from whisperbench.text import normalizer_version

            writer.write({
                "record": "run", "run_id": run_id, "suite": suite.name, "suite_hash": suite.suite_hash,
                "suite_source": suite.source, "created": _now(), **env, "normalizer": normalizer_version(),
                "settings": suite.settings(),
                "cells": {c.cell_id: {**c.identity, "label": c.label, "utterances": len(c.dataset)} for c in suite.cells},
            })
        writer.write({"record": "session", "run_id": run_id, "started": _now(), "resume": resume, "pid": os.getpid(),
                      "git_commit": env["git_commit"], "git_dirty": env["git_dirty"], "executor": executor.describe()})
        jobs = []
        for cell in suite.cells:
            expected = [(u.id, r) for r in range(suite.repeats) for u in cell.dataset.utterances]
            skip = [(u, r) for (u, r) in expected if (cell.cell_id, u, r) in done]
            if cell.cell_id in failed_cells or len(skip) == len(expected):
                report.cells_skipped += 1
                progress.skip()
                continue
            lo = cell.engine.load_options
            jobs.append(CellJob(cell.cell_id, cell.label, {
                "cell": cell_payload(cell),
                "identity": cell_identity(cell, suite, run_id, env).identity(),
                "repeats": suite.repeats, "warmups": suite.warmups, "skip": skip,
            }, len(expected), cell_resources(lo.device, lo.threads, suite.max_memory_mb, suite.cluster)))
        limits = Limits(suite.timeout_s, suite.max_memory_mb)
        with contextlib.closing(executor.run(jobs, limits, progress)) as events:
            for job, ev in events:
                _record(job, ev, writer, report, progress, on_row)
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        report.wall_seconds = time.perf_counter() - t_start
        try:
            writer.write({
                "record": "session_end", "run_id": run_id, "ended": _now(), "wall_seconds": report.wall_seconds,
                "interrupted": report.interrupted, "rows_written": report.rows_written, "failures": report.failures,
                "decode_seconds": report.decode_seconds, "load_seconds": report.load_seconds,
                "warmup_seconds": report.warmup_seconds,
            })
        finally:
            writer.close()
            progress.close()
            executor.close()
    return report


def _record(job: CellJob, ev: dict[str, Any], writer: store.ResultWriter, report: RunReport,
            progress: Progress, on_row: Callable[[dict[str, Any]], None] | None) -> None:
    """Write one event of a cell (from whichever executor ran it) and count it."""
    identity = job.payload["identity"]
    kind = ev.get("event")
    if kind == "row":
        writer.write(ev["row"])
        report.rows_written += 1
        report.decode_seconds += ev["row"].get("decode_seconds") or 0.0
        progress.row(job)
        if ev["row"].get("audio_warning"):  # decoded incompletely (in the child): say so here
            warn(ev["row"]["audio_warning"])
        if on_row:
            on_row(ev["row"])
    elif kind == "failure":
        writer.write(ev["row"])
        report.failures += 1
        row = ev["row"]
        progress.message(f"failed: {identity['backend']} {identity['dataset']} {identity['algorithm']}"
                         f"{' ' + row['utterance_id'] if row.get('utterance_id') else ''}: {row['error']}")
        if row.get("scope") == "utterance":
            progress.row(job)
    elif kind == "loaded":
        report.load_seconds += ev.get("load_seconds") or 0.0
    elif kind == "cell":
        writer.write(ev["record"])
        report.warmup_seconds += sum(ev["record"].get("warmup_seconds") or [])
    elif kind == "ended":
        report.cells_run += 1
        report.cell_seconds.append(ev["seconds"])
