"""The synthetic sweep: every (architecture, backend, device, compute type, batch size) timed,
each in a child process of its own by default, one row each appended to the results file
(JSON Lines records of kind `synthetic`, and one `synthetic_run`)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from whisperbench import backends
from whisperbench.bench.architectures import Architecture
from whisperbench.bench.architectures import get as get_architecture
from whisperbench.bench.child import run_child
from whisperbench.bench.synthetic.measure import (
    DEFAULT_DECODE_TOKENS,
    CellSpec,
    cell_job,
    measure_or_record,
)

RECORD = "synthetic"
RUN_RECORD = "synthetic_run"


def default_backends() -> list[str]:
    """Every registered backend whose runtime has synthetic primitives on real weights (not
    the dummy), by name."""
    return [n for n in backends.names()
            if backends.spec(n).synthetic and backends.synthetic_class(n).needs_weights]


def measure_isolated(cell: CellSpec, repeats: int, warmups: int, bandwidth: dict[str, Any] | None = None,
                     timeout_s: float | None = None) -> dict[str, Any]:
    """`measure_or_record` in a child process (`whisperbench.bench.synthetic_process`, started
    by the child-process spawner); a crash, a timeout or the out-of-memory killer becomes a
    failed row naming what happened."""
    rows, ended = run_child("whisperbench.bench.synthetic_process", cell_job(cell, repeats, warmups, bandwidth),
                            timeout_s=timeout_s)
    if ended.returncode == 0 and rows:
        return rows[-1]
    return {"status": "failed", "error_type": ended.error_type,
            "error": f"{backends.runtime_name(cell.backend)}: {ended.describe(timeout_s)}",
            "returncode": ended.returncode, "stderr_tail": ended.stderr_tail}


def _identity(arch: Architecture) -> dict[str, Any]:
    return {
        "architecture": arch.name,
        "architecture_source": arch.source,
        "dims": arch.to_dict(),
        "parameters": arch.parameter_count(),
        "distilled": arch.distilled,
    }


def run(
    architectures: Sequence[str | Architecture],
    backends_: Sequence[str] | None = None,
    devices: Sequence[str] = ("cpu",),
    compute_types: Sequence[str] = ("default",),
    batch_sizes: Sequence[int] = (1,),
    decode_tokens: int = DEFAULT_DECODE_TOKENS,
    repeats: int = 3,
    warmups: int = 1,
    threads: int = 0,
    options: dict[str, Any] | None = None,
    output: str | Path | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    eot_eager: bool = False,
    isolate: bool = True,
    timeout_s: float | None = None,
    on_start: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Time every (architecture, backend, device, compute type, batch size); one row each
    (status ok / skipped / failed), appended to `output` as it is measured.

    `isolate` (default) times each cell in a process of its own: a runtime that crashes,
    hangs past `timeout_s` or runs out of memory becomes a failed row and the run goes
    on; memory peaks belong to that cell alone. `on_start` is called with each cell's
    identity before it starts (its weights may have to be built first), `progress` with
    each finished row."""
    from whisperbench.bench import environment
    from whisperbench.bench.records import SyntheticRow
    from whisperbench.bench.store import ResultWriter

    archs = [a if isinstance(a, Architecture) else get_architecture(a) for a in architectures]
    for a in archs:
        a.validate()
    if backends_ is None:
        backends_ = [b for b in default_backends() if backends.is_installed(b)]
    run_id = uuid.uuid4().hex[:12]
    env = environment.snapshot()
    gpu = []
    if any(d.startswith("cuda") for d in devices):
        from whisperbench.gpu import gpu_state

        gpu = gpu_state()
    machine = env["machine"]
    common = {
        "record": RECORD, "dataset": "synthetic", "run_id": run_id,
        "hostname": machine["hostname"], "cpu_model": machine["cpu_model"],
        "cpus_logical": machine["cpu_count_logical"], "cpus_usable": machine["cpu_affinity"],
        "gpu_name": machine["gpu_name"], "gpu_driver": machine["gpu_driver"],
        "packages": env["packages"], "git_commit": env["git_commit"], "git_dirty": env["git_dirty"],
    }
    writer = ResultWriter(output) if output else None
    rows: list[dict[str, Any]] = []
    bandwidth: dict[str, dict[str, Any]] = {}  # device -> measured copy bandwidth, once per run
    try:
        if writer:
            writer.write({
                "record": RUN_RECORD, "run_id": run_id, "created": _now(), "machine": machine,
                "packages": env["packages"], "git_commit": env["git_commit"], "git_dirty": env["git_dirty"],
                "gpu_state": gpu, "settings": {
                    "architectures": [a.name for a in archs], "backends": list(backends_), "devices": list(devices),
                    "compute_types": list(compute_types), "batch_sizes": list(batch_sizes),
                    "decode_tokens": decode_tokens, "repeats": repeats, "warmups": warmups, "threads": threads,
                    "options": dict(options or {}),
                },
            })
        for device in devices:
            for backend in backends_:
                for compute_type in compute_types:
                    for arch in archs:
                        for b in batch_sizes:
                            cell = CellSpec(arch, backend, device, compute_type, b, decode_tokens, threads,
                                            dict(options or {}), eot_eager)
                            row = {**common, **_identity(arch), "backend": backend, "device": device,
                                   "compute_type": compute_type, "batch_size": b, "decode_tokens": decode_tokens}
                            if on_start:
                                on_start(row)
                            if isolate:
                                row.update(measure_isolated(cell, repeats, warmups, bandwidth.get(device),
                                                            timeout_s))
                            else:
                                row.update(measure_or_record(cell, repeats, warmups, bandwidth.get(device)))
                            if row["status"] == "ok" and device not in bandwidth:
                                bandwidth[device] = {"bandwidth_gbs": row["bandwidth_gbs"],
                                                     "method": row["bandwidth_method"]}
                            if device.startswith("cuda"):
                                from whisperbench.gpu import gpu_state

                                row["gpu_state"] = gpu_state()  # clocks right after the cell
                            row["timestamp"] = _now()
                            row = SyntheticRow.from_dict(row).to_dict()
                            rows.append(row)
                            if writer:
                                writer.write(row)
                            if progress:
                                progress(row)
    finally:
        if writer:
            writer.close()
    return rows


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def read_rows(paths) -> list[dict[str, Any]]:
    from whisperbench.bench.store import read_records

    return read_records(paths, (RECORD,))
