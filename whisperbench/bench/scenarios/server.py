"""MLPerf's Server scenario: queries arrive as a Poisson process at a target rate into N
model instances (or one instance batching dynamically); LoadGen reports latency from
arrival to completion, queueing included. `search_rate` finds the highest rate whose
latency percentile stays under a target, one LoadGen run per rate tried."""

from __future__ import annotations

from typing import Any, Callable

# Bracketing moves the rate by this factor; bisection then narrows the bracket.
GROWTH = 1.5


def server_settings(rate: float, queries: int, target_latency_s: float, percentile: float,
                    min_duration_s: float = 0.0, seed: int = 0) -> Any:
    import mlperf_loadgen as lg

    s = lg.TestSettings()
    s.scenario = lg.TestScenario.Server
    s.mode = lg.TestMode.PerformanceOnly
    s.server_target_qps = float(rate)
    s.server_target_latency_ns = int(target_latency_s * 1e9)
    s.server_target_latency_percentile = percentile / 100
    s.min_query_count = queries
    s.max_query_count = queries
    s.min_duration_ms = int(min_duration_s * 1000)
    s.schedule_rng_seed = seed
    return s


def search_rate(meets: Callable[[float], bool], start: float, steps: int) -> tuple[float | None, list[tuple[float, bool]]]:
    """The highest rate found to meet the target within `steps` trials, and every trial
    (rate, met) in order. From `start`, the rate grows by GROWTH while it meets the target
    (or shrinks while it does not) until the target's edge is bracketed, then the bracket is
    bisected (geometric mean). None when no rate tried met it."""
    if start <= 0 or steps < 1:
        raise ValueError("start must be > 0 and steps >= 1")
    trials: list[tuple[float, bool]] = []

    def trial(rate: float) -> bool:
        ok = meets(rate)
        trials.append((rate, ok))
        return ok

    rate = start
    ok = trial(rate)
    low = rate if ok else None
    high = None if ok else rate
    while len(trials) < steps and (low is None or high is None):
        rate = rate * GROWTH if ok else rate / GROWTH
        ok = trial(rate)
        if ok:
            low = rate if low is None else max(low, rate)
        else:
            high = rate if high is None else min(high, rate)
    while len(trials) < steps and low is not None and high is not None:
        ok = trial((low * high) ** 0.5)
        if ok:
            low = trials[-1][0]
        else:
            high = trials[-1][0]
    return low, trials
