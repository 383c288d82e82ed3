"""Run a suite's scenarios and write their rows: for each cell (engine x dataset x algorithm
x variant), one child process (`scenarios/cell_process.py`, started by the shared spawner
`bench/child.spawn`, as suite cells are) loads the model instances once, decodes the
dataset's audio and measures each scenario with LoadGen; this process writes one
`ScenarioRow` per run (and per rate search) to the results file.

A child that crashes, hangs (sends nothing for the suite's `timeout_s`) or passes its
`max_memory_mb` leaves a failed row for the scenario it was running; the cell's other
scenarios go on in a fresh child, then the next cell. Each run's `peak_rss_mb` is the
child's own high-water mark over that run.

`whisperbench bench SUITE` runs the suite's `[[scenarios]]` after its cells, into the same
file and run (`resume=True`); `whisperbench scenarios` runs them alone. Resume skips what
the file already holds for its run, point by point (an Offline batch size and repeat, a
Server rate, a finished rate search); a scenario that failed as a whole (load error,
crash) is skipped too unless `retry_failed`, as a failed cell is.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from whisperbench.bench import environment, store
from whisperbench.bench.scenarios.records import SCENARIO_KIND
from whisperbench.bench.scenarios.spec import ScenarioSpec
from whisperbench.bench.suite import Cell, Suite
from whisperbench.errors import WhisperbenchError

CHILD = "whisperbench.bench.scenarios.cell_process"


@dataclass
class ScenarioReport:
    output: Path
    run_id: str
    rows: int = 0
    failures: int = 0
    wall_seconds: float = 0.0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def default_output(suite: Suite) -> Path:
    from whisperbench.bench.runner import store_dir

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in suite.name)
    return store_dir() / f"scenarios-{safe}-{stamp}.jsonl"


def validate(suite: Suite, specs: list[ScenarioSpec]) -> None:
    """Every (cell, scenario) the runtimes can run; one WhisperbenchError listing the rest."""
    from whisperbench import backends

    problems = []
    for cell in suite.cells:
        cls = backends.adapter_class(cell.engine.backend)
        for spec in specs:
            if max(spec.batch_sizes) > 1:
                try:
                    cls.check_batch_options(cell.options)
                except WhisperbenchError as exc:
                    problems.append(f"{spec.label} on {cell.label}: batch size {max(spec.batch_sizes)}: {exc}")
    if problems:
        raise WhisperbenchError("cannot run these scenarios:\n  - " + "\n  - ".join(problems))


def measured(rows: list[dict[str, Any]], spec: ScenarioSpec, retry_failed: bool = False) -> dict[str, Any]:
    """What `rows` (one cell's scenario rows of the run) already hold of `spec`: Offline
    (batch size, repeat) pairs, Server rates, whether its rate search finished, and
    whether it is complete (or failed as a whole: skipped unless `retry_failed`)."""
    mine = [r for r in rows if all(r.get(k) == v for k, v in spec.row_fields().items())]
    if not retry_failed and any(r.get("status") != "ok" and r.get("point") is None for r in mine):
        return {"complete": True}
    kept = [r for r in mine if r.get("point") and (r.get("status") == "ok" or not retry_failed)]
    batches = sorted({(r["batch_size"], r.get("repeat", 0)) for r in kept if r["point"] == "batch"})
    rates = sorted({r["target_qps"] for r in kept if r["point"] == "rate"})
    searched = any(r["point"] == "max_rate" for r in kept)
    if spec.kind == "offline":
        complete = len(batches) >= len(spec.batch_sizes) * spec.repeats
    else:
        complete = set(spec.rates) <= set(rates) and (searched or not spec.find_max_rate)
    return {"complete": complete, "batches": [list(b) for b in batches], "rates": rates, "searched": searched}


def _runs_left(spec: ScenarioSpec, done: dict[str, Any]) -> int:
    """LoadGen runs still to do (the progress bar's share of a scenario)."""
    if done.get("complete"):
        return 0
    if spec.kind == "offline":
        return len(spec.batch_sizes) * spec.repeats - len(done.get("batches", []))
    rates = len(set(spec.rates) - set(done.get("rates", [])))
    return rates + (spec.search_steps if spec.find_max_rate and not done.get("searched") else 0)


def run_scenarios(suite: Suite, specs: list[ScenarioSpec], output: str | Path | None = None, *,
                  price_per_hour: float | None = None, quiet: bool = False, resume: bool = False,
                  retry_failed: bool = False) -> ScenarioReport:
    """Run `specs` on every cell of `suite`, appending rows to `output`. With `resume`, an
    existing file's run goes on (its run id; what it holds is skipped): `bench` passes its
    own results file so."""
    from tqdm import tqdm

    from whisperbench.bench.runner import cell_identity

    validate(suite, specs)
    out = Path(output) if output else default_output(suite)
    t0 = time.perf_counter()
    env = environment.snapshot()
    with store.ResultWriter(out) as writer:
        records = store.read_records(out) if resume and out.stat().st_size > 0 else []
        runs = [r for r in records if r.get("record") == "run"]
        if runs and runs[0].get("suite_hash") not in (None, suite.suite_hash):
            raise WhisperbenchError(f"{out} was started with a different suite; resume it with the same suite, "
                                    "or write to another --output")
        report = ScenarioReport(out, runs[0]["run_id"] if runs else uuid.uuid4().hex[:16])
        part = {"scenarios": [s.to_dict() for s in specs], "price_per_hour": price_per_hour}
        if runs:  # this run's scenarios part
            writer.write({"record": "session", "run_id": report.run_id, "started": _now(), "part": "scenarios",
                          "pid": os.getpid(), "git_commit": env["git_commit"], "git_dirty": env["git_dirty"], **part})
        else:
            writer.write({"record": "run", "run_id": report.run_id, "suite": suite.name, "suite_hash": suite.suite_hash,
                          "suite_source": suite.source, "created": _now(), **env, **part})
        had = [r for r in records if r.get("record") == SCENARIO_KIND and r.get("run_id") == report.run_id]
        plans = []
        for cell in suite.cells:
            rows = [r for r in had if r.get("cell_id") == cell.cell_id]
            todo = [(i, s, measured(rows, s, retry_failed)) for i, s in enumerate(specs)]
            plans.append((cell, [t for t in todo if not t[2]["complete"]]))
        total = sum(_runs_left(s, d) for _, todo in plans for _, s, d in todo)
        with tqdm(total=total, disable=quiet, unit="run", desc="scenarios") as bar:
            for cell, todo in plans:
                if not todo:
                    continue
                identity = cell_identity(cell, suite, report.run_id, env).identity()
                for row in cell_rows(cell, suite, identity, todo, price_per_hour, bar):
                    writer.write(row)
                    report.rows += 1
                    report.failures += row.get("status") != "ok"
    report.wall_seconds = time.perf_counter() - t0
    return report


def cell_rows(cell: Cell, suite: Suite, identity: dict[str, Any], todo: list[tuple[int, ScenarioSpec, dict]],
              price_per_hour: float | None, bar: Any) -> Iterator[dict[str, Any]]:
    """One cell's scenario rows, measured in child processes: the first runs every scenario
    of `todo` ((index, spec, measured)); after a crash, a failed row for the scenario it was
    running and a fresh child for the rest."""
    from whisperbench.bench.child import Child
    from whisperbench.bench.runner import cell_payload
    from whisperbench.bench.scenarios.cell_process import PROGRESS_S, failed_row

    while todo:
        job = {"cell": cell_payload(cell), "identity": identity, "price_per_hour": price_per_hour,
               "specs": [{"index": i, "spec": s.to_dict(), "done": d} for i, s, d in todo],
               # a long LoadGen run says it is moving well within the timeout; a stuck one goes silent
               "progress_s": min(PROGRESS_S, suite.timeout_s / 4)}
        current, finished = None, set()
        with Child(CHILD, job, timeout_s=suite.timeout_s, max_memory_mb=suite.max_memory_mb or None) as child:
            for ev in child:
                kind = ev.get("event")
                if kind == "begin":
                    current = ev["index"]
                elif kind == "end":
                    finished.add(ev["index"])
                    current = None
                elif kind == "run":
                    bar.update(1)
                elif kind == "row":
                    yield ev["row"]
                elif kind == "rows":
                    yield from ev["rows"]
        ended = child.exit
        left = [t for t in todo if t[0] not in finished]
        if not left:
            return
        # Died without finishing: the scenario it was running failed (all of those left
        # when it died before starting one, e.g. while loading the model).
        failed = {i for i, _, _ in left if i == current} or {i for i, _, _ in left}
        why = dict(stderr_tail=ended.stderr_tail, returncode=ended.returncode)
        for i, spec, _ in left:
            if i in failed:
                yield failed_row(identity, spec, ended.error_type, ended.describe(suite.timeout_s), **why)
        todo = [t for t in left if t[0] not in failed]
