"""One measured LoadGen run over loaded model instances, and the row fields it yields:
LoadGen's statistics, queue wait and service time from the SUT's clock, accuracy of what
was transcribed, peak memory (the process's high-water mark, reset before the run: the
scenario cell's child process is alone in it), energy, and the machine's load meanwhile."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from whisperbench.backends.base import Backend
from whisperbench.bench import noise
from whisperbench.bench.metrics import accuracy, corpus_wer, percentile
from whisperbench.bench.scenarios.energy import EnergyMeter
from whisperbench.bench.scenarios.loadgen_sut import DecodeBatch, LoadGenRun, run_loadgen
from whisperbench.memory import peak_rss_mb, reset_peak_rss
from whisperbench.options import DecodeOptions


@dataclass
class Workload:
    """Model instances and the samples they serve (decoded before anything is timed)."""

    instances: list[Backend]
    samples: list[np.ndarray]
    references: list[str]
    audio_seconds: list[float]
    options: DecodeOptions
    device: str
    calls: int = 0  # decode calls so far (the child's progress messages read it)

    def decoder(self, instance: int, batched: bool) -> DecodeBatch:
        """One instance's decode call: `transcribe_batch` (one runtime call for the batch)
        when `batched`, else `transcribe` (one sample per call, as SingleStream runs it)."""
        backend = self.instances[instance]

        def decode(indices: list[int]) -> list[str]:
            if batched:
                texts = [r.text for r in backend.transcribe_batch([self.samples[i] for i in indices], self.options)]
            else:
                texts = [backend.transcribe(self.samples[i], self.options).text for i in indices]
            self.calls += 1
            return texts

        return decode

    def implementation(self, batched: bool) -> str:
        backend = self.instances[0]
        caps = backend.capabilities
        return (caps.batch_implementation if batched and caps.batch_implementation
                else caps.algorithms[self.options.algorithm])

    def warm_up(self, batch: int, batched: bool) -> float:
        """Decode one batch on each instance, untimed for the results; the slowest call's seconds."""
        indices = list(range(min(batch, len(self.samples))))
        slowest = 0.0
        for i in range(len(self.instances)):
            t0 = time.perf_counter()
            self.decoder(i, batched)(indices)
            slowest = max(slowest, time.perf_counter() - t0)
        return slowest


def _seconds(ns: float | None) -> float | None:
    return None if ns is None else ns / 1e9


def _pct(values: Sequence[float], q: float) -> float | None:
    return percentile([v for v in values if v == v], q)


def measure(work: Workload, settings: Any, *, max_batch: int, batch_timeout_s: float, batched: bool,
            target_percentile: float, price_per_hour: float | None = None) -> dict[str, Any]:
    """Run LoadGen once (`settings`: an `mlperf_loadgen.TestSettings`) and return the row
    fields of `records.ScenarioRow` it measured."""
    decoders = [work.decoder(i, batched) for i in range(len(work.instances))]
    meter = EnergyMeter(work.device)
    gpu = None
    if work.device.startswith("cuda"):
        from whisperbench.gpu import GpuMemoryMonitor

        gpu = GpuMemoryMonitor(work.device)
    before = noise.snapshot()
    run_peak = reset_peak_rss()  # else the peak counts from the process's start
    if gpu:
        gpu.start()
    meter.start()
    run = run_loadgen(settings, len(work.samples), decoders, max_batch=max_batch,
                      batch_timeout_s=batch_timeout_s)
    energy = meter.stop()
    gpu_peak = gpu.stop().get("gpu_peak_mb") if gpu else None
    peak = peak_rss_mb()
    after = noise.snapshot()
    return {
        **_loadgen_fields(run, target_percentile),
        **_sut_fields(run, work),
        "implementation": work.implementation(batched),
        "peak_rss_mb": round(peak, 1) if peak is not None else None,
        **({} if run_peak else {"peak_rss_note": "the process's peak since it started (this kernel cannot reset it)"}),
        "gpu_peak_mb": gpu_peak,
        **_energy_fields(energy, run, work, price_per_hour),
        **noise.load_fields(before, after),
    }


def _loadgen_fields(run: LoadGenRun, target_percentile: float) -> dict[str, Any]:
    rate = run.summary_float("Samples per second") or run.summary_float("Completed samples per second")
    return {
        "loadgen_result": run.summary.get("Result is"),
        "samples_per_second": rate,
        "scheduled_qps": run.summary_float("Scheduled samples per second"),
        "latency_mean_s": _seconds(run.summary_float("Mean latency (ns)")),
        "latency_p50_s": _seconds(run.latency_ns("50.00")),
        "latency_p90_s": _seconds(run.latency_ns("90.00")),
        "latency_p99_s": _seconds(run.latency_ns("99.00")),
        "latency_at_percentile_s": _seconds(run.latency_ns(f"{target_percentile:.2f}")),
    }


def _sut_fields(run: LoadGenRun, work: Workload) -> dict[str, Any]:
    ok = [t for t in run.samples if t.error is None]
    audio = sum(work.audio_seconds[t.index] for t in run.samples)
    waits = [t.queue_wait for t in run.samples]
    calls = {(t.instance, t.started): t.done - t.started for t in ok}
    scored = [accuracy(work.references[t.index], t.text or "") for t in ok]
    scored = [a for a in scored if not a.empty_reference]
    wall = run.wall_seconds
    return {
        "status": "ok" if not run.errors else "failed",
        "error": "; ".join(run.errors) or None,
        "error_type": "DecodeError" if run.errors else None,
        "queries": len(run.samples),
        "completed": len(ok),
        "audio_seconds": round(audio, 3),
        "wall_seconds": round(wall, 6),
        "throughput_rtfx": audio / wall if wall > 0 and not run.errors else None,
        "queue_wait_p50_s": _pct(waits, 50),
        "queue_wait_p90_s": _pct(waits, 90),
        "queue_wait_p99_s": _pct(waits, 99),
        "service_p50_s": _pct(list(calls.values()), 50),
        "mean_batch": len(ok) / len(calls) if calls else None,
        "wer": corpus_wer([a.substitutions for a in scored], [a.deletions for a in scored],
                          [a.insertions for a in scored], [a.ref_words for a in scored]),
        "ref_words": sum(a.ref_words for a in scored),
    }


def _energy_fields(energy, run: LoadGenRun, work: Workload, price_per_hour: float | None) -> dict[str, Any]:
    audio_hours = sum(work.audio_seconds[t.index] for t in run.samples) / 3600
    wall = run.wall_seconds
    dollars = None
    if price_per_hour is not None and audio_hours > 0 and wall > 0:
        dollars = price_per_hour * (wall / 3600) / audio_hours
    return {
        "energy_joules": energy.joules,
        "energy_sources": energy.sources,
        "energy_note": energy.note,
        "joules_per_audio_hour": energy.joules / audio_hours if energy.joules is not None and audio_hours else None,
        "price_per_hour": price_per_hour,
        "dollars_per_audio_hour": dollars,
    }
