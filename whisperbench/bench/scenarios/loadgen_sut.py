"""MLPerf LoadGen (`mlcommons-loadgen`) wiring: our system under test (SUT) and query
sample library (QSL) around model instances, and what one LoadGen run measured.

LoadGen owns the load: it issues queries (all at once in Offline, at Poisson arrival times
in Server), times each from issue to `QuerySamplesComplete`, and writes its statistics to
`mlperf_log_summary.txt`, whose percentiles and rates we report as they are. The SUT puts
each issued sample on one queue; each model instance is a thread that takes up to
`max_batch` samples (waiting at most `batch_timeout_s` for a batch to fill, 0 in Offline
where everything is queued at once), decodes them in one call and completes them. The SUT
also stamps each sample when an instance took it, so queue wait is reported apart from
LoadGen's latency (issue to completion).

Samples are decoded audio arrays, held in memory for the whole run (the QSL's load/unload
callbacks have nothing to do), so no audio decoding happens inside a timed region.
"""

from __future__ import annotations

import queue
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

# Decode the samples at these dataset indexes in one call; one text per index.
DecodeBatch = Callable[[list[int]], list[str]]


@dataclass
class SampleTiming:
    """One issued sample, on the SUT's clock (`time.perf_counter`)."""

    index: int  # into the dataset
    issued: float  # LoadGen handed it to the SUT
    started: float = float("nan")  # an instance took it off the queue
    done: float = float("nan")  # completed to LoadGen
    batch: int = 0  # samples decoded in the same call
    instance: int = -1
    text: str | None = None
    error: str | None = None

    @property
    def queue_wait(self) -> float:
        return self.started - self.issued

    @property
    def latency(self) -> float:
        return self.done - self.issued


@dataclass
class LoadGenRun:
    samples: list[SampleTiming]
    summary: dict[str, str]  # mlperf_log_summary.txt, "key : value" lines
    first_issue: float
    last_done: float
    log_dir: str
    errors: list[str] = field(default_factory=list)

    @property
    def wall_seconds(self) -> float:
        return self.last_done - self.first_issue

    def summary_float(self, key: str) -> float | None:
        value = self.summary.get(key)
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    def latency_ns(self, percentile: str) -> float | None:
        """LoadGen's latency at a percentile ("50.00", "90.00", "99.00", ...), in ns."""
        return self.summary_float(f"{percentile} percentile latency (ns)")


def read_summary(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and value.strip():
            out.setdefault(key.strip(), value.strip())
    return out


class _Sut:
    """The queue between LoadGen's issue callback and the instance threads."""

    def __init__(self, decoders: Sequence[DecodeBatch], max_batch: int, batch_timeout_s: float) -> None:
        self.decoders = decoders
        self.max_batch = max_batch
        self.batch_timeout_s = batch_timeout_s
        self.queue: queue.Queue = queue.Queue()
        self.timings: list[SampleTiming] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._serve, args=(i,), daemon=True) for i in range(len(decoders))]

    def issue(self, query_samples) -> None:
        now = time.perf_counter()
        for qs in query_samples:
            t = SampleTiming(index=int(qs.index), issued=now)
            with self.lock:
                self.timings.append(t)
            self.queue.put((qs.id, t))

    def _take(self) -> list:
        try:
            first = self.queue.get(timeout=0.05)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.perf_counter() + self.batch_timeout_s
        while len(batch) < self.max_batch:
            left = deadline - time.perf_counter()
            try:
                batch.append(self.queue.get(timeout=left) if left > 0 else self.queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _serve(self, instance: int) -> None:
        import mlperf_loadgen as lg

        decode = self.decoders[instance]
        while not self.stop.is_set():
            batch = self._take()
            if not batch:
                continue
            started = time.perf_counter()
            try:
                texts: list[str | None] = list(decode([t.index for _, t in batch]))
                error = None
            except Exception as exc:  # the query must still complete, or LoadGen waits forever
                texts, error = [None] * len(batch), f"{type(exc).__name__}: {exc}"
            done = time.perf_counter()
            for (_, t), text in zip(batch, texts):
                t.started, t.done, t.batch, t.instance, t.text, t.error = started, done, len(batch), instance, text, error
            lg.QuerySamplesComplete([lg.QuerySampleResponse(qid, 0, 0) for qid, _ in batch])

    def start(self) -> None:
        for th in self.threads:
            th.start()

    def close(self) -> None:
        self.stop.set()
        for th in self.threads:
            th.join()


def run_loadgen(settings: Any, n_samples: int, decoders: Sequence[DecodeBatch], *, max_batch: int = 1,
                batch_timeout_s: float = 0.0, performance_count: int | None = None,
                log_dir: str | None = None) -> LoadGenRun:
    """One LoadGen test (`settings`: an `mlperf_loadgen.TestSettings`) over `n_samples`
    samples served by one thread per decoder (model instance)."""
    import mlperf_loadgen as lg

    sut_state = _Sut(decoders, max_batch, batch_timeout_s)
    out_dir = log_dir or tempfile.mkdtemp(prefix="whisperbench-loadgen-")
    log = lg.LogSettings()
    log.log_output.outdir = out_dir
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    sut = lg.ConstructSUT(sut_state.issue, lambda: None)
    qsl = lg.ConstructQSL(n_samples, performance_count or n_samples, lambda _: None, lambda _: None)
    sut_state.start()
    try:
        lg.StartTestWithLogSettings(sut, qsl, settings, log)
    finally:
        sut_state.close()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    timings = sut_state.timings
    errors = sorted({t.error for t in timings if t.error})
    return LoadGenRun(
        samples=timings,
        summary=read_summary(Path(out_dir) / "mlperf_log_summary.txt"),
        first_issue=min((t.issued for t in timings), default=0.0),
        last_done=max((t.done for t in timings), default=0.0),
        log_dir=out_dir,
        errors=errors,
    )
