"""One scenario cell, run in its own process: `python -m whisperbench.bench.scenarios.cell_process`,
started by the shared child-process spawner (`bench/child.spawn`) as suite cells are.

Reads a job (JSON) on stdin: the cell (as `runner.cell_payload`), its row identity, and the
scenarios to run, each with the points already measured (resume). Decodes the dataset's
audio, loads the model instances once (threads inside this process: the runtimes release
the GIL while they compute) and measures each scenario with LoadGen (`measure.measure`).
Writes events as JSON lines on its original stdout; the parent (`run.py`) writes the rows.

Events: started, loaded (the instances), begin (index: a scenario starts), run (one LoadGen run done: the progress bar),
progress (the instances decoded something in the last `progress_s` seconds),
row (a `ScenarioRow`), rows (a rate search's rows, all at once: a search stopped half-way
leaves none, and is run again on resume), end (index: the scenario is finished), done.
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
from datetime import datetime, timezone
from typing import Any, Callable

from whisperbench.bench.cell_process import Channel, load_dataset, weights_info
from whisperbench.bench.records import loaded_identity
from whisperbench.bench.scenarios.records import ScenarioRow
from whisperbench.bench.scenarios.spec import ScenarioSpec

# The rate search starts at this share of the capacity the warm-up decode suggests.
SEARCH_START = 0.7
# While a LoadGen run goes on, say at most every this many seconds (the job's progress_s, a
# share of the spawner's timeout) that the instances decoded something.
PROGRESS_S = 5.0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def batched(backend: str, spec: ScenarioSpec) -> bool:
    """Whether a scenario's calls go through the runtime's batch call: always in Offline when
    the runtime batches (every batch size then runs the same runtime call, batch 1 included),
    in Server when dynamic batching is asked for."""
    from whisperbench import backends

    if spec.kind == "offline":
        return backends.adapter_class(backend).capabilities.batching
    return spec.batch_sizes[0] > 1


def failed_row(identity: dict[str, Any], spec: ScenarioSpec, error_type: str, error: str,
               **extra: Any) -> dict[str, Any]:
    """A scenario that could not be measured (load error, crash, timeout, out of memory)."""
    return ScenarioRow(**identity, **spec.row_fields(), status="failed", error_type=error_type, error=error,
                       timestamp=_now(), extra=extra).to_dict()


def _row(base: dict[str, Any], fields: dict[str, Any], **more: Any) -> dict[str, Any]:
    names = set(ScenarioRow.__dataclass_fields__) - {"extra"}
    data = {**base, **fields, **more, "timestamp": _now()}
    return ScenarioRow(**{k: v for k, v in data.items() if k in names},
                       extra={k: v for k, v in data.items() if k not in names}).to_dict()


def run(job: dict[str, Any], chan: Channel) -> int:
    from whisperbench import backends
    from whisperbench.audio import duration_seconds
    from whisperbench.bench import served
    from whisperbench.bench.scenarios.measure import Workload
    from whisperbench.options import DecodeOptions, LoadOptions

    cell = job["cell"]
    identity = dict(job["identity"])
    price = job.get("price_per_hour")
    lo = LoadOptions(**cell["load_options"])
    options = DecodeOptions.from_dict(cell["options"])
    plans = [(p["index"], ScenarioSpec.from_dict(p["spec"]), p["done"]) for p in job["specs"]]
    chan.send("started")
    instances = []
    server = None
    try:
        dataset = load_dataset(cell)
        samples = [u.load() for u in dataset.utterances]
        cls = backends.get(cell["backend"])
        n = max(spec.instances for _, spec, _ in plans)
        if cell.get("served"):  # behind whisperbench serve: a worker and an openai-api client per instance
            server, first = served.start(cell["backend"], cell["model"], lo, workers=n)
            instances = [first] + [served.client(server) for _ in range(n - 1)]
        else:
            instances = [cls(cell["model"], lo) for _ in range(n)]
    except Exception as exc:
        for index, spec, _ in plans:
            chan.send("row", row=failed_row(identity, spec, type(exc).__name__, str(exc)))
            chan.send("end", index=index)
        for b in instances:
            b.close()
        chan.send("done")
        return 1
    described = served.describe(instances[0]) if server else instances[0].describe()
    identity.update(loaded_identity(described, weights_info(cell["model"]), lo.device, lo.threads))
    chan.send("loaded")
    work = Workload(instances=[], samples=samples, references=[u.reference for u in dataset.utterances],
                    audio_seconds=[duration_seconds(s) for s in samples], options=options, device=lo.device)
    send = _locked(chan)
    stop = threading.Event()
    interval = float(job.get("progress_s", PROGRESS_S))
    threading.Thread(target=_report_progress, args=(work, send, stop, interval), daemon=True).start()
    try:
        for index, spec, done in plans:
            send("begin", index=index)
            work.instances = instances[: spec.instances]
            base = dict(identity, **spec.row_fields(), load_seconds=instances[0].load_seconds, price_per_hour=price)
            use_batch = batched("openai-api" if server else cell["backend"], spec)
            points = _offline if spec.kind == "offline" else _server
            try:
                points(work, spec, base, price, use_batch, done, send)
            except Exception as exc:  # this scenario failed; the others still run
                send("row", row=failed_row(identity, spec, type(exc).__name__, str(exc) or type(exc).__name__,
                                           traceback=traceback.format_exc(limit=8)))
            send("end", index=index)
    finally:
        stop.set()
        for b in instances:
            b.close()
        if server:
            server.stop()
    chan.send("done")
    return 0


def _locked(chan: Channel) -> Callable[..., None]:
    """`chan.send` for several threads (the scenarios and the progress reporter)."""
    lock = threading.Lock()

    def send(event: str, **data: Any) -> None:
        with lock:
            chan.send(event, **data)

    return send


def _report_progress(work, send: Callable[..., None], stop: threading.Event, interval: float = PROGRESS_S) -> None:
    """Until `stop`, send "progress" whenever the instances decoded something since the last
    look: the spawner's timeout_s then ends a stuck runtime, not a long LoadGen run."""
    seen = work.calls
    while not stop.wait(interval):
        if work.calls != seen:
            seen = work.calls
            send("progress", calls=seen)


def _offline(work, spec: ScenarioSpec, base: dict, price: float | None, use_batch: bool, done: dict[str, Any],
             send: Callable[..., None]) -> None:
    from whisperbench.bench.scenarios.measure import measure
    from whisperbench.bench.scenarios.offline import offline_settings

    n = spec.queries or len(work.samples)
    measured = {tuple(p) for p in done.get("batches", [])}
    for size in spec.batch_sizes:
        repeats = [r for r in range(spec.repeats) if (size, r) not in measured]
        if not repeats:
            continue
        work.warm_up(size, use_batch)
        for repeat in repeats:
            fields = measure(work, offline_settings(n, spec.min_duration_s), max_batch=size, batch_timeout_s=0.0,
                             batched=use_batch, target_percentile=spec.percentile, price_per_hour=price)
            send("run")
            send("row", row=_row(base, fields, point="batch", batch_size=size, repeat=repeat))


def _server(work, spec: ScenarioSpec, base: dict, price: float | None, use_batch: bool, done: dict[str, Any],
            send: Callable[..., None]) -> None:
    from whisperbench.bench.scenarios.measure import measure
    from whisperbench.bench.scenarios.server import search_rate, server_settings

    size = spec.batch_sizes[0]
    service = work.warm_up(size, use_batch)
    target, pct = spec.target_latency_s, spec.percentile
    common = dict(point="rate", batch_size=size, target_latency_s=target, latency_percentile=pct)

    def at(rate: float) -> dict[str, Any]:
        settings = server_settings(rate, spec.server_queries, target, pct, spec.min_duration_s)
        fields = measure(work, settings, max_batch=size, batch_timeout_s=spec.batch_timeout_ms / 1000,
                         batched=use_batch, target_percentile=pct, price_per_hour=price)
        lat = fields.get("latency_at_percentile_s")
        fields["slo_met"] = fields["status"] == "ok" and lat is not None and lat <= target
        send("run")
        return fields

    measured = set(done.get("rates", []))
    for rate in spec.rates:
        if rate in measured:
            continue
        send("row", row=_row(base, at(rate), target_qps=rate, **common))
    if not spec.find_max_rate or done.get("searched"):
        return
    runs: dict[float, dict[str, Any]] = {}

    def meets(rate: float) -> bool:
        runs[rate] = at(rate)
        return bool(runs[rate]["slo_met"])

    start = SEARCH_START * spec.instances * size / max(service, 1e-3)
    best, trials = search_rate(meets, start, spec.search_steps)
    rows = [_row(base, runs[rate], target_qps=rate, **common) for rate, _ in trials]
    shown = runs[best] if best is not None else runs[min(runs)]
    search = [{"rate_qps": r, "latency_s": runs[r].get("latency_at_percentile_s"), "met": ok} for r, ok in trials]
    # target_qps stays None: the rate found is the measurement, not part of the point's identity.
    rows.append(_row(base, shown, **{**common, "point": "max_rate"}, target_qps=None, max_rate_qps=best,
                     search=search))
    send("rows", rows=rows)


def main() -> int:
    from whisperbench.bench.child import start_child

    chan = Channel(start_child())
    try:
        return run(json.loads(sys.stdin.read()), chan)
    except BrokenPipeError:  # the parent is gone
        return 1


if __name__ == "__main__":
    sys.exit(main())
