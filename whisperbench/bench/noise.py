"""Is a timing noise? The one place that reads the machine's load around a timed region,
summarises the spread of repeats, and puts an honest interval on a latency ratio.

Load (recorded on every timing row, suite and synthetic)
--------------------------------------------------------
- `loadavg_before` / `loadavg_after`: `os.getloadavg()` (1, 5, 15 min) around the timed
  region; `load_cpus`: the CPUs this process may run on (its affinity), what the load is
  judged against.
- `others_cpu_seconds` over `load_wall_seconds`: CPU time that *other* processes used on
  those CPUs during the timed region (busy time of the CPUs, from the kernel's per-CPU
  counters, minus this process's and its children's own CPU time).

The judgement uses the second. A load average counts our own threads too, and decays
over a minute: a measurement using 2 threads on a 2-core machine raises it towards 2 by
itself, and the cell timed before it (ours as well) still shows in the "before" reading
of the next. So neither reading separates our work from someone else's, while the CPU
time others took while we were timing is exactly the interference that slows a timing.

- **loaded**: others used more than `LOADED_OTHERS_SHARE` (10 %) of the usable CPUs on
  average over the timed region (0.2 of a core on 2 cores: enough to cost a timing that
  uses every core about that much). Rows without that record (other platforms, results
  from before it was recorded) fall back on the 1-minute load average before the timed
  region: loaded when it exceeds the usable CPUs (more runnable tasks than cores before
  we started; our own earlier cell can contribute at most its own threads). Rows with
  neither are **unknown** and say so.
- **wide spread**: the coefficient of variation of the repeats (sample standard deviation
  over mean) exceeds `WIDE_CV` (10 %): repeats that differ by that much cannot support a
  10 % difference as a finding. Dispersion is min, median, max and CV; fewer than two
  repeats have no CV.

Latency ratios (`ratio_interval`)
---------------------------------
Two timings taken at different times differ by more than their repeats suggest: the
machine drifts between runs (frequency, caches, neighbours). A ratio is computed on the
log scale from the totals of independent runs (processes) of each side:

- with at least three runs in all, the between-run variance is estimated from them
  (pooled over both sides, df = runs - 2) and the interval uses Student's t;
- with one run per side it cannot be estimated; an assumed run-to-run noise
  (`DEFAULT_RUN_NOISE`, a log standard deviation per run, measured on the project's
  shared 2-core machine by `benchmarks/bench_speed_gate.py`) is used with z = 1.96, and
  the interval says so;
- a side's own repeat spread (log standard deviation) widens it further when larger, and
  a within-run bootstrap interval, when given, is never narrowed.

A ratio whose interval includes 1 is printed with "not distinguishable", never as a
finding. `resolution` (the interval's half-width as a ratio) is the smallest change the
data can tell from noise.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

LOADED_OTHERS_SHARE = 0.10  # of the usable CPUs, averaged over the timed region
LOADED_LOADAVG_PER_CPU = 1.0  # fallback: 1-min load average before / usable CPUs
WIDE_CV = 0.10
DEFAULT_RUN_NOISE = 0.10  # log standard deviation of one run's total latency (see module doc)
Z95 = 1.959964

# Fields a timing row gets from `load_fields`.
LOAD_FIELDS = ("loadavg_before", "loadavg_after", "load_cpus", "others_cpu_seconds", "load_wall_seconds")


# ---------------------------------------------------------------------------------------
# reading the machine


def usable_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


@dataclass(frozen=True)
class Snapshot:
    wall: float
    loadavg: list[float] | None
    busy: float | None  # busy CPU seconds of the usable CPUs, all processes
    own: float | None  # CPU seconds of this process and its children


def _busy_and_own(cpus: list[int]) -> tuple[float | None, float | None]:
    try:
        import psutil

        per_cpu = psutil.cpu_times(percpu=True)
        busy = 0.0
        for i in cpus:
            if i < len(per_cpu):
                t = per_cpu[i]
                busy += sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "guest", 0.0) \
                    - getattr(t, "guest_nice", 0.0)  # guest time is already counted in user time
        me = psutil.Process()
        c = me.cpu_times()
        own = c.user + c.system + c.children_user + c.children_system
        for child in me.children(recursive=True):  # live ones (e.g. the Transformers.js worker)
            try:
                cc = child.cpu_times()
                own += cc.user + cc.system
            except psutil.Error:
                pass
        return busy, own
    except Exception:  # noqa: BLE001 - no accounting on this platform: judged by load average
        return None, None


def snapshot() -> Snapshot:
    """Take outside the timed region: it costs about a millisecond."""
    busy, own = _busy_and_own(usable_cpus())
    return Snapshot(time.perf_counter(), load_average(), busy, own)


def load_fields(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """The load record of a timed region between two snapshots."""
    others = None
    if None not in (before.busy, after.busy, before.own, after.own):
        wall = after.wall - before.wall
        # Clipped to what the CPUs could give: the kernel counts in ticks (10 ms).
        others = min(max(0.0, (after.busy - before.busy) - (after.own - before.own)), wall * len(usable_cpus()))
    return {
        "loadavg_before": before.loadavg, "loadavg_after": after.loadavg, "load_cpus": len(usable_cpus()),
        "others_cpu_seconds": None if others is None else round(others, 4),
        "load_wall_seconds": round(after.wall - before.wall, 6),
    }


# ---------------------------------------------------------------------------------------
# judging


def dispersion(values: Iterable[float]) -> dict[str, float | None]:
    """min, median, max and coefficient of variation (None below two values)."""
    v = [float(x) for x in values if x is not None and x == x]
    if not v:
        return {"min": None, "median": None, "max": None, "cv": None}
    mean = statistics.fmean(v)
    cv = statistics.stdev(v) / mean if len(v) >= 2 and mean > 0 else None
    return {"min": min(v), "median": statistics.median(v), "max": max(v), "cv": cv}


def _num(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if f == f else None


@dataclass(frozen=True)
class Verdict:
    loaded: bool | None  # None: not recorded
    wide: bool | None  # None: fewer than two repeats
    others_cpus: float | None
    loadavg_before: float | None  # the highest 1-min reading before a timed region
    load_cpus: int | None
    cv: float | None

    @property
    def noisy(self) -> bool:
        return bool(self.loaded or self.wide)

    def marks(self) -> list[str]:
        """Short notes for a table cell; empty when the timing is clean."""
        out = []
        if self.loaded:
            if self.others_cpus is not None:
                out.append(f"loaded: others used {self.others_cpus:.2f} of {self.load_cpus} CPUs")
            else:
                out.append(f"loaded: load average {self.loadavg_before:.2f} on {self.load_cpus} CPUs")
        elif self.loaded is None:
            out.append("load not recorded")
        if self.wide:
            out.append(f"wide spread: CV {100 * self.cv:.0f}%")
        return out


def judge(*, others_cpu_seconds: float | None = None, wall_seconds: float | None = None,
          loadavg_before: float | None = None, load_cpus: int | None = None,
          cv: float | None = None) -> Verdict:
    """The verdict on one timing (a row, or a cell's rows added up)."""
    cpus = load_cpus or None
    others = (others_cpu_seconds / wall_seconds
              if others_cpu_seconds is not None and wall_seconds and wall_seconds > 0 else None)
    if others is not None and cpus:
        loaded: bool | None = others > LOADED_OTHERS_SHARE * cpus
    elif loadavg_before is not None and cpus:
        loaded = loadavg_before > LOADED_LOADAVG_PER_CPU * cpus
    else:
        loaded = None
    return Verdict(loaded, None if cv is None else cv > WIDE_CV, others, loadavg_before, cpus, cv)


def judge_rows(rows, cv: float | None = None) -> Verdict:
    """The verdict on several timing rows (dicts or a DataFrame) of one cell: others' CPU
    time over the timed wall time, the highest load average before."""
    if hasattr(rows, "to_dict"):  # only the load columns: a whole row of a results frame is wide
        rows = rows[[c for c in ("others_cpu_seconds", "load_wall_seconds", "loadavg_before", "load_cpus")
                     if c in rows.columns]]
        records = rows.to_dict("records")
    else:
        records = list(rows)
    others = wall = 0.0
    n_others = 0
    before = []
    cpus = None
    for r in records:
        o, w = _num(r.get("others_cpu_seconds")), _num(r.get("load_wall_seconds"))
        if o is not None and w:
            others += o
            wall += w
            n_others += 1
        la = r.get("loadavg_before")
        if isinstance(la, (list, tuple)) and la:
            before.append(float(la[0]))
        c = _num(r.get("load_cpus"))
        cpus = int(c) if c else cpus
    return judge(others_cpu_seconds=others if n_others else None, wall_seconds=wall if n_others else None,
                 loadavg_before=max(before) if before else None, load_cpus=cpus, cv=cv)


def verdict_fields(v: Verdict) -> dict[str, Any]:
    return {"loaded": v.loaded, "wide_spread": v.wide, "others_cpus": v.others_cpus}


# ---------------------------------------------------------------------------------------
# ratios

# Student's t, 97.5 % quantile, df 1..30 (beyond: 1.96 + a small correction).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def t975(df: int) -> float:
    if df < 1:
        raise ValueError("t quantile needs df >= 1")
    return _T975[df - 1] if df <= len(_T975) else Z95 + 2.4 / df


def log_sd(values: Sequence[float]) -> float:
    """Standard deviation of the logs (about the CV for small spreads); 0 below two values."""
    v = [math.log(x) for x in values if x and x > 0]
    return statistics.stdev(v) if len(v) >= 2 else 0.0


@dataclass(frozen=True)
class RatioInterval:
    value: float
    low: float
    high: float
    basis: str  # how the interval was made, for the reader

    @property
    def distinguishable(self) -> bool:
        return self.low > 1 or self.high < 1

    @property
    def resolution(self) -> float:
        """The smallest ratio (> 1) these data tell from no change."""
        return math.sqrt(self.high / self.low)

    def fmt(self, spec: str = ".2f", suffix: str = "×") -> str:
        text = f"{self.value:{spec}}{suffix} [{self.low:{spec}}, {self.high:{spec}}]"
        return text if self.distinguishable else text + " not distinguishable"


def ratio_interval(base_runs: Sequence[float], cand_runs: Sequence[float], *,
                   run_noise: float = DEFAULT_RUN_NOISE, spread_base: float = 0.0, spread_cand: float = 0.0,
                   within: tuple[float, float] | None = None) -> RatioInterval | None:
    """Candidate / baseline latency from each side's per-run totals (one value per
    independent run), with a 95 % interval (see the module doc). `spread_*`: a side's
    repeat spread as a log standard deviation; `within`: a within-run (bootstrap)
    interval (low, high) the result must contain. None when a side has no positive total."""
    b = [math.log(x) for x in base_runs if x and x > 0]
    c = [math.log(x) for x in cand_runs if x and x > 0]
    if not b or not c:
        return None
    point = statistics.fmean(c) - statistics.fmean(b)
    df = len(b) + len(c) - 2
    if df >= 1:
        ss = sum((x - statistics.fmean(b)) ** 2 for x in b) + sum((x - statistics.fmean(c)) ** 2 for x in c)
        s, q = math.sqrt(ss / df), t975(df)
        basis = f"between-run spread of {len(b)}+{len(c)} runs (t, df {df})"
    else:
        s, q = run_noise, Z95
        basis = f"one run per side: assumed run-to-run noise {100 * run_noise:.0f}%"
    sb, sc = max(s, spread_base), max(s, spread_cand)
    half = q * math.sqrt(sb * sb / len(b) + sc * sc / len(c))
    if within is not None and within[0] and within[1] and within[0] > 0:
        half = max(half, point - math.log(within[0]), math.log(within[1]) - point)
    return RatioInterval(math.exp(point), math.exp(point - half), math.exp(point + half), basis)
