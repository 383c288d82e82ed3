"""The scenario record kind ("scenario"): one row per LoadGen run (an Offline batch size,
a Server rate) and one per Server rate search, with the full identity of a suite row
(`records.RowIdentity`: engine, weights, dataset, decoding options, machine, packages).

Scenario identity (`SCENARIO_IDENTITY`): the engine and workload fields of a cell, plus
the scenario's own: which scenario and point, batch size, instances, batch timeout, and
for Server points the rate (a "rate" row) or the latency target (a "max_rate" row).
Units are in field names; latencies are LoadGen's (issue to completion, queueing included).

Where they are written: `whisperbench scenarios` starts a file with a `run` record listing
the scenarios and price; `whisperbench bench` appends its suite's scenario rows to its own
file and run (`run_id`), after a `session` record with `part: "scenarios"` that lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable

from whisperbench.bench.records import ENGINE_FIELDS, RowIdentity

SCENARIO_KIND = "scenario"
# "batch": one Offline run at a batch size; "rate": one Server run at a rate; "max_rate":
# the highest Server rate found whose latency percentile met the target.
POINTS = ("batch", "rate", "max_rate")
SCENARIO_FIELDS = ("scenario", "point", "batch_size", "instances", "batch_timeout_ms", "target_qps",
                   "target_latency_s", "latency_percentile")
SCENARIO_IDENTITY = ENGINE_FIELDS + ("dataset", "options_hash") + SCENARIO_FIELDS
# What a scenario configuration is, across its points (the report's curves, recommend's candidates).
CONFIG_FIELDS = ENGINE_FIELDS + ("dataset", "options_hash", "scenario", "batch_size", "instances", "batch_timeout_ms")


@dataclass(kw_only=True)
class ScenarioRow(RowIdentity):
    KIND: ClassVar[str] = SCENARIO_KIND
    status: str = "ok"  # "ok" or "failed" (error says why)
    scenario: str | None = None  # "offline" | "server"
    scenario_name: str | None = None
    point: str | None = None  # see POINTS
    repeat: int = 0
    batch_size: int | None = None  # offline: samples per call; server: the dynamic batching limit
    instances: int | None = None
    batch_timeout_ms: float | None = None
    target_qps: float | None = None  # server: the arrival rate asked of LoadGen
    target_latency_s: float | None = None
    latency_percentile: float | None = None
    # What LoadGen measured (mlperf_log_summary.txt).
    loadgen_result: str | None = None  # VALID / INVALID (short runs are INVALID by MLPerf's minimums)
    samples_per_second: float | None = None  # offline: samples/s; server: completed samples/s
    scheduled_qps: float | None = None  # server: the rate LoadGen's Poisson schedule achieved
    latency_mean_s: float | None = None
    latency_p50_s: float | None = None
    latency_p90_s: float | None = None
    latency_p99_s: float | None = None
    latency_at_percentile_s: float | None = None  # at `latency_percentile`
    slo_met: bool | None = None  # latency_at_percentile_s <= target_latency_s
    # What the SUT measured on its own clock.
    queries: int | None = None  # samples issued
    completed: int | None = None  # samples decoded without error
    audio_seconds: float | None = None  # of the issued samples
    wall_seconds: float | None = None  # first issue to last completion
    throughput_rtfx: float | None = None  # audio seconds per wall second (aggregate RTFx)
    queue_wait_p50_s: float | None = None  # issue to an instance taking it
    queue_wait_p90_s: float | None = None
    queue_wait_p99_s: float | None = None
    service_p50_s: float | None = None  # an instance's decode call (per batch)
    mean_batch: float | None = None  # samples per decode call
    # Server rate search ("max_rate" rows).
    max_rate_qps: float | None = None  # None: not even the lowest rate tried met the target
    search: list[dict[str, Any]] = field(default_factory=list)  # each run: rate, latency, met
    # Accuracy of what was transcribed (normalized, as suite rows).
    wer: float | None = None
    ref_words: int | None = None
    # Memory and energy over the run.
    peak_rss_mb: float | None = None  # the scenario child's own peak RSS over the run (VmHWM, reset before it)
    gpu_peak_mb: float | None = None
    energy_joules: float | None = None  # None: not readable here (energy_note says why)
    energy_sources: list[str] = field(default_factory=list)
    energy_note: str | None = None
    joules_per_audio_hour: float | None = None
    price_per_hour: float | None = None  # the machine's price, $/h, as given
    dollars_per_audio_hour: float | None = None  # price_per_hour / throughput_rtfx
    # The machine's load during the run (whisperbench.bench.noise).
    loadavg_before: list[float] | None = None
    loadavg_after: list[float] | None = None
    load_cpus: int | None = None
    others_cpu_seconds: float | None = None
    load_wall_seconds: float | None = None
    load_seconds: float | None = None  # model load (first instance)
    error_type: str | None = None
    error: str | None = None
    timestamp: str | None = None


def read_scenario_rows(paths: Any) -> list[dict[str, Any]]:
    """The scenario rows of results files or folders (other record kinds are skipped)."""
    from whisperbench.bench.store import read_records

    return read_records(paths, kinds=[SCENARIO_KIND])


def ok_rows(rows: Iterable[dict[str, Any]], point: str | None = None) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("status") == "ok" and (point is None or r.get("point") == point)]
