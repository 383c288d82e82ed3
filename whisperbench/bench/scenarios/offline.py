"""MLPerf's Offline scenario: every sample issued at once, one instance decoding batches of
`batch_size`; throughput (audio seconds per wall second) per batch size, and the knee."""

from __future__ import annotations

from typing import Any, Sequence


def offline_settings(samples: int, min_duration_s: float = 0.0) -> Any:
    """LoadGen settings issuing `samples` samples in one Offline query."""
    import mlperf_loadgen as lg

    s = lg.TestSettings()
    s.scenario = lg.TestScenario.Offline
    s.mode = lg.TestMode.PerformanceOnly
    # LoadGen issues max(min_query_count, offline_expected_qps x min_duration) samples: a low
    # expected rate leaves the count to min_query_count.
    s.offline_expected_qps = 1
    s.min_query_count = samples
    s.min_duration_ms = int(min_duration_s * 1000)
    return s


# A batch size whose throughput is within this share of the best so far adds nothing.
KNEE_GAIN = 0.05


def knee(points: Sequence[tuple[int, float]], gain: float = KNEE_GAIN) -> int | None:
    """The batch size where throughput stops rising: the smallest size after which no larger
    size is more than `gain` (relative) faster. `points`: (batch size, throughput)."""
    pts = sorted((b, t) for b, t in points if t is not None and t > 0)
    if not pts:
        return None
    for i, (b, t) in enumerate(pts):
        if all(t2 <= t * (1 + gain) for _, t2 in pts[i + 1:]):
            return b
    return pts[-1][0]
