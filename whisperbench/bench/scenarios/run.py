"""Run a suite's scenarios: for each cell (engine x dataset x algorithm x variant), load
the model instances once, decode the dataset's audio, and measure each scenario with
LoadGen, writing one `ScenarioRow` per run (and per rate search) to the results file.

Scenarios run in this process: instances are threads (the runtimes release the GIL while
they compute), so memory is sampled per run (`measure.RssMonitor`) rather than read from
a child process's lifetime peak.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from whisperbench.audio import duration_seconds
from whisperbench.bench import environment, store
from whisperbench.bench.scenarios.measure import Workload, measure
from whisperbench.bench.scenarios.offline import offline_settings
from whisperbench.bench.scenarios.records import ScenarioRow
from whisperbench.bench.scenarios.server import search_rate, server_settings
from whisperbench.bench.scenarios.spec import ScenarioSpec
from whisperbench.bench.suite import Cell, Suite
from whisperbench.errors import WhisperbenchError

# The rate search starts at this share of the capacity the warm-up decode suggests.
SEARCH_START = 0.7


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


def batched(cell: Cell, spec: ScenarioSpec) -> bool:
    """Whether a scenario's calls go through the runtime's batch call: always in Offline when
    the runtime batches (every batch size then runs the same runtime call, batch 1 included),
    in Server when dynamic batching is asked for."""
    from whisperbench import backends

    cls = backends.adapter_class(cell.engine.backend)
    if spec.kind == "offline":
        return cls.capabilities.batching
    return spec.batch_sizes[0] > 1


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


def run_scenarios(suite: Suite, specs: list[ScenarioSpec], output: str | Path | None = None, *,
                  price_per_hour: float | None = None, quiet: bool = False) -> ScenarioReport:
    validate(suite, specs)
    out = Path(output) if output else default_output(suite)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = ScenarioReport(out, uuid.uuid4().hex[:16])
    env = environment.snapshot()
    t0 = time.perf_counter()
    from tqdm import tqdm

    runs = sum(_planned_runs(s, len(c.dataset)) for c in suite.cells for s in specs)
    with store.ResultWriter(out) as writer, tqdm(total=runs, disable=quiet, unit="run", desc="scenarios") as bar:
        writer.write({"record": "run", "run_id": report.run_id, "suite": suite.name, "suite_source": suite.source,
                      "created": _now(), **env, "scenarios": [s.to_dict() for s in specs],
                      "price_per_hour": price_per_hour})
        for cell in suite.cells:
            for row in _run_cell(cell, suite, specs, report.run_id, env, price_per_hour, bar):
                writer.write(row)
                report.rows += 1
                report.failures += row.status != "ok"
    report.wall_seconds = time.perf_counter() - t0
    return report


def _planned_runs(spec: ScenarioSpec, n: int) -> int:
    if spec.kind == "offline":
        return len(spec.batch_sizes) * spec.repeats
    return len(spec.rates) + (spec.search_steps if spec.find_max_rate else 0)


def _run_cell(cell: Cell, suite: Suite, specs: list[ScenarioSpec], run_id: str, env: dict[str, Any],
              price_per_hour: float | None, bar):
    from whisperbench import backends
    from whisperbench.bench.runner import cell_identity

    identity = cell_identity(cell, suite, run_id, env).identity()
    instances = []
    try:
        cls = backends.get(cell.engine.backend)
        need = max(s.instances for s in specs)
        instances = [cls(cell.engine.model, cell.engine.load_options) for _ in range(need)]
        samples = [u.load() for u in cell.dataset.utterances]
    except Exception as exc:
        for spec in specs:
            yield ScenarioRow(**identity, status="failed", scenario=spec.kind, scenario_name=spec.label,
                              error_type=type(exc).__name__, error=str(exc), timestamp=_now())
        for b in instances:
            b.close()
        return
    identity.update(_loaded_identity(instances[0], cell))
    work = Workload(instances=[], samples=samples, references=[u.reference for u in cell.dataset.utterances],
                    audio_seconds=[duration_seconds(s) for s in samples], options=cell.options,
                    device=cell.engine.load_options.device)
    load_seconds = instances[0].load_seconds
    try:
        for spec in specs:
            work.instances = instances[: spec.instances]
            base = dict(identity, scenario=spec.kind, scenario_name=spec.label, instances=spec.instances,
                        batch_timeout_ms=spec.batch_timeout_ms, load_seconds=load_seconds, price_per_hour=price_per_hour)
            if spec.kind == "offline":
                yield from _offline(work, cell, spec, base, price_per_hour, bar)
            else:
                yield from _server(work, cell, spec, base, price_per_hour, bar)
    finally:
        for b in instances:
            b.close()


def _loaded_identity(backend, cell: Cell) -> dict[str, Any]:
    """What only a loaded model tells (as the suite's cell process records it): the format
    read, the weights' own format and quantization, and what ran."""
    from whisperbench.bench.cell_process import weights_info

    described = backend.describe()
    winfo = weights_info(cell.engine.model)
    compute_type, wq, read_format = described.get("compute_type"), winfo.get("quantization"), described.get("model_format")
    return dict(
        runtime_version=described.get("runtime_version"), model_format=read_format,
        source_format=winfo.get("format") if winfo.get("format") not in (None, read_format) else None,
        weights_quantization=wq, compute_type=compute_type,
        quantization=wq if compute_type in (None, "default") and wq else compute_type,
        device=described.get("device", cell.engine.load_options.device),
        threads=described.get("threads", cell.engine.load_options.threads),
    )


def _row(base: dict[str, Any], fields: dict[str, Any], **more: Any) -> ScenarioRow:
    names = set(ScenarioRow.__dataclass_fields__) - {"extra"}
    data = {**base, **fields, **more, "timestamp": _now()}
    return ScenarioRow(**{k: v for k, v in data.items() if k in names},
                       extra={k: v for k, v in data.items() if k not in names})


def _offline(work: Workload, cell: Cell, spec: ScenarioSpec, base: dict, price: float | None, bar):
    use_batch = batched(cell, spec)
    n = spec.queries or len(work.samples)
    for size in spec.batch_sizes:
        work.warm_up(size, use_batch)
        for repeat in range(spec.repeats):
            fields = measure(work, offline_settings(n, spec.min_duration_s), max_batch=size, batch_timeout_s=0.0,
                             batched=use_batch, target_percentile=spec.percentile, price_per_hour=price)
            bar.update(1)
            yield _row(base, fields, point="batch", batch_size=size, repeat=repeat)


def _server(work: Workload, cell: Cell, spec: ScenarioSpec, base: dict, price: float | None, bar):
    size = spec.batch_sizes[0]
    use_batch = batched(cell, spec)
    service = work.warm_up(size, use_batch)
    target, pct = spec.target_latency_s, spec.percentile
    common = dict(point="rate", batch_size=size, target_latency_s=target, latency_percentile=pct)

    def at(rate: float) -> dict[str, Any]:
        settings = server_settings(rate, spec.server_queries, target, pct, spec.min_duration_s)
        fields = measure(work, settings, max_batch=size, batch_timeout_s=spec.batch_timeout_ms / 1000,
                         batched=use_batch, target_percentile=pct, price_per_hour=price)
        lat = fields.get("latency_at_percentile_s")
        fields["slo_met"] = fields["status"] == "ok" and lat is not None and lat <= target
        bar.update(1)
        return fields

    for rate in spec.rates:
        yield _row(base, at(rate), target_qps=rate, **common)
    if not spec.find_max_rate:
        return
    runs: dict[float, dict[str, Any]] = {}

    def meets(rate: float) -> bool:
        runs[rate] = at(rate)
        return bool(runs[rate]["slo_met"])

    start = SEARCH_START * spec.instances * size / max(service, 1e-3)
    best, trials = search_rate(meets, start, spec.search_steps)
    for rate, _ in trials:
        yield _row(base, runs[rate], target_qps=rate, **common)
    shown = runs[best] if best is not None else runs[min(runs)]
    search = [{"rate_qps": r, "latency_s": runs[r].get("latency_at_percentile_s"), "met": ok} for r, ok in trials]
    # target_qps stays None: the rate found is the measurement, not part of the point's identity.
    yield _row(base, shown, **{**common, "point": "max_rate"}, target_qps=None, max_rate_qps=best, search=search)
