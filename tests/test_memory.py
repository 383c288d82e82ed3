"""whisperbench.memory: the one peak sampler (RSS, GPU memory), and what a cell records."""

from __future__ import annotations

import numpy as np

from whisperbench.memory import CellMemory, PeakSampler, RssSampler


def test_peak_sampler_keeps_the_peak_and_says_why_a_reading_stopped():
    readings = iter([100, 300, 250])

    def read() -> int:
        value = next(readings, None)
        if value is None:
            raise OSError("device gone")
        return value * 2**20

    s = PeakSampler(read, name="test memory")  # reads 100 at start
    assert s.sample() == 300 * 2**20 and s.sample() == 250 * 2**20
    assert s.sample() is None and s.note == "test memory reading failed: device gone"
    assert s.peak_above_start_mb() == 200  # the peak so far is kept
    assert PeakSampler(None).peak_above_start_mb() is None


def test_rss_sampler_sees_an_allocation_in_its_thread():
    s = RssSampler(interval=0.001).start()
    block = np.ones(64 * 2**20, dtype=np.uint8)  # touched: resident
    out = s.stop()
    del block
    assert out["rss_delta_mb"] >= 60 and out["peak_rss_mb"] >= out["rss_before_mb"] + 60


def test_cell_memory_on_cpu_reads_rss_only_and_never_calls_the_allocator():
    calls = []
    m = CellMemory("cpu", allocator=(calls.append, lambda device: calls.append(device) or 1.0))
    m.reset_allocator()
    out = m.stop()
    assert set(out) == {"peak_rss_mb", "rss_before_mb", "rss_delta_mb"} and calls == []
    assert m.stop() == {}  # once
