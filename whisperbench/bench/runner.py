"""The suite runner: one child process per cell, rows written as they arrive.

The runner is the only writer of the results file. Each cell runs in
`python -m whisperbench.bench.cell_process` in its own session (so a terminal's Ctrl-C
reaches the runner only); the runner kills a child that reports nothing for
`timeout_s` or whose RSS passes `max_memory_mb`, records crashes (signals, exits)
as failure rows, and goes on with the next cell. On Ctrl-C it kills the child,
writes every row the child had already sent, and stops. `resume=True` skips
(cell, utterance, repeat) rows already measured and cells already recorded as failed.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from whisperbench.bench import environment, store
from whisperbench.bench.child import child_env, describe_exit, stderr_tail
from whisperbench.bench.records import Failure, RowIdentity
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
    m = env["machine"]
    return RowIdentity(
        run_id=run_id, cell_id=cell.cell_id, suite=suite.name,
        backend=cell.engine.backend, runtime_version=cls.runtime_version(),
        model=cell.engine.model, model_format=cls.capabilities.model_format,
        weights_quantization=None, compute_type=lo.compute_type, quantization=lo.compute_type,
        device=lo.device, threads=lo.threads, load_extra=dict(lo.extra),
        dataset=cell.dataset.name, dataset_kind=cell.dataset.spec.kind, dataset_path=cell.dataset.spec.path,
        dataset_hash=cell.dataset.content_hash, algorithm=cell.options.algorithm, variant=cell.variant,
        implementation=cls.capabilities.algorithms.get(cell.options.algorithm),
        options_hash=cell.options.hash(), options=cell.options.to_dict(), normalizer=normalizer_version(),
        hostname=m["hostname"], cpu_model=m["cpu_model"], cpus_logical=m["cpu_count_logical"],
        gpu_name=m["gpu_name"], gpu_driver=m["gpu_driver"], packages=env["packages"],
        git_commit=env["git_commit"], git_dirty=env["git_dirty"],
    )


class _Progress:
    def __init__(self, suite: Suite, quiet: bool) -> None:
        self.quiet = quiet
        self.suite_bar = None
        self.cell_bar = None
        if not quiet:
            from tqdm import tqdm

            self._tqdm = tqdm
            self.suite_bar = tqdm(total=len(suite.cells), desc=f"suite {suite.name}", unit="cell", position=0,
                                  dynamic_ncols=True)

    def start_cell(self, label: str, total: int, done: int) -> None:
        if self.quiet:
            return
        self.cell_bar = self._tqdm(total=total, initial=done, desc=label, unit="utt", position=1, leave=False,
                                   dynamic_ncols=True)

    def row(self) -> None:
        if self.cell_bar is not None:
            self.cell_bar.update(1)

    def end_cell(self) -> None:
        if self.cell_bar is not None:
            self.cell_bar.close()
            self.cell_bar = None
        if self.suite_bar is not None:
            self.suite_bar.update(1)

    def message(self, text: str) -> None:
        if self.quiet:
            return
        if self.suite_bar is not None:
            self.suite_bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self.cell_bar is not None:
            self.cell_bar.close()
        if self.suite_bar is not None:
            self.suite_bar.close()


def run_suite(
    suite: Suite,
    output: str | Path | None = None,
    *,
    resume: bool = False,
    retry_failed: bool = False,
    quiet: bool = False,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> RunReport:
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
    except BaseException:
        writer.close()
        raise
    run_id = run_id or uuid.uuid4().hex[:16]
    report = RunReport(output=output, run_id=run_id)
    progress = _Progress(suite, quiet)
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
                      "git_commit": env["git_commit"], "git_dirty": env["git_dirty"]})
        for cell in suite.cells:
            expected = [(u.id, r) for r in range(suite.repeats) for u in cell.dataset.utterances]
            skip = [(u, r) for (u, r) in expected if (cell.cell_id, u, r) in done]
            if cell.cell_id in failed_cells or len(skip) == len(expected):
                report.cells_skipped += 1
                progress.end_cell()
                continue
            progress.start_cell(cell.label, len(expected), len(skip))
            job = {
                "cell": {
                    "backend": cell.engine.backend, "model": cell.engine.model,
                    "load_options": cell.engine.load_options.to_dict(),
                    "dataset": cell.dataset.spec.to_dict(), "dataset_hash": cell.dataset.content_hash,
                    "options": cell.options.to_dict(), "variant": cell.variant,
                },
                "identity": cell_identity(cell, suite, run_id, env).identity(),
                "repeats": suite.repeats, "warmups": suite.warmups, "skip": skip,
            }
            t_cell = time.perf_counter()
            _run_cell(job, suite, writer, report, progress, on_row)
            report.cell_seconds.append(time.perf_counter() - t_cell)
            report.cells_run += 1
            progress.end_cell()
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
    return report


def _run_cell(job: dict, suite: Suite, writer: store.ResultWriter, report: RunReport, progress: _Progress,
              on_row: Callable[[dict[str, Any]], None] | None) -> None:
    identity = job["identity"]
    env = child_env()
    errfile = tempfile.TemporaryFile(mode="w+b")
    proc = subprocess.Popen(
        [sys.executable, "-m", "whisperbench.bench.cell_process"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errfile, env=env,
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
    peak_seen = 0.0
    ps = None
    if suite.max_memory_mb:
        import psutil

        try:
            ps = psutil.Process(proc.pid)
        except psutil.Error:
            ps = None

    def handle(line: bytes) -> None:
        nonlocal current, finished, reported_failure
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            return  # a partial line from a killed child
        kind = ev.get("event")
        if kind == "row":
            writer.write(ev["row"])
            report.rows_written += 1
            report.decode_seconds += ev["row"].get("decode_seconds") or 0.0
            progress.row()
            current = (None, None)
            if ev["row"].get("audio_warning"):  # decoded incompletely (in the child): say so here
                warn(ev["row"]["audio_warning"])
            if on_row:
                on_row(ev["row"])
        elif kind == "failure":
            writer.write(ev["row"])
            report.failures += 1
            reported_failure = True
            row = ev["row"]
            progress.message(f"failed: {identity['backend']} {identity['dataset']} {identity['algorithm']}"
                             f"{' ' + row['utterance_id'] if row.get('utterance_id') else ''}: {row['error']}")
            if row.get("scope") == "utterance":
                progress.row()
            current = (None, None)
        elif kind == "begin":
            current = (ev["utterance_id"], ev["repeat"])
        elif kind == "loaded":
            report.load_seconds += ev.get("load_seconds") or 0.0
        elif kind == "cell":
            writer.write(ev["record"])
            report.warmup_seconds += sum(ev["record"].get("warmup_seconds") or [])
        elif kind == "done":
            finished = True

    def over_memory() -> bool:
        """Kill the child when its RSS passes max_memory_mb (sampled while it is quiet
        and before each of its events is accepted, so a fast child cannot outrun it)."""
        nonlocal killed_for, peak_seen
        if ps is None or killed_for is not None:
            return killed_for is not None
        try:
            rss = ps.memory_info().rss / 2**20
        except Exception:
            return False
        peak_seen = max(peak_seen, rss)
        if rss > suite.max_memory_mb:
            killed_for = f"out of memory: RSS {rss:.0f} MB exceeded max_memory_mb={suite.max_memory_mb:g}"
            proc.kill()
        return killed_for is not None

    try:
        while True:
            try:
                line = events.get(timeout=0.2 if ps is not None else 1.0)
            except queue.Empty:
                if time.monotonic() - last > suite.timeout_s:
                    killed_for = f"timeout: no progress for {suite.timeout_s:g} s"
                    proc.kill()
                else:
                    over_memory()
                continue
            if line is None:
                break
            last = time.monotonic()
            if over_memory():
                continue  # measured in a process over its memory cap: the cell fails instead
            handle(line)
    except KeyboardInterrupt:
        # Stop the child, then keep every row it had already sent.
        proc.kill()
        reader.join(timeout=5)
        while True:
            try:
                line = events.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                handle(line)
        proc.wait()
        errfile.close()
        raise
    rc = proc.wait()
    reader.join(timeout=5)
    if finished and rc == 0:
        errfile.close()
        return
    if reported_failure and rc == 1 and killed_for is None:
        errfile.close()
        return  # the child recorded why it stopped
    tail = stderr_tail(errfile)
    errfile.close()
    if killed_for:
        error, etype = killed_for, "Timeout" if killed_for.startswith("timeout") else "OutOfMemory"
    else:
        etype, error = "Crash", f"child process {describe_exit(rc)}"
    utt, rep = current
    row = Failure(**identity, scope="cell", utterance_id=utt, repeat=rep, error_type=etype, error=error,
                  stderr_tail=tail, returncode=rc, timestamp=_now())
    writer.write(row)
    report.failures += 1
    progress.message(f"failed: {identity['backend']} {identity['dataset']} {identity['algorithm']}: {error}")
