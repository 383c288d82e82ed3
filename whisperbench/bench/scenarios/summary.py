"""Scenario rows for people: the report's table and throughput-vs-latency plot, compare's
gates (throughput and the rate meeting a latency target), and recommend's answer to "the
cheapest configuration that holds R requests/s under p90 <= L"."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from whisperbench.bench import noise
from whisperbench.bench.records import HARDWARE_FIELDS, identity_key
from whisperbench.bench.scenarios.offline import knee
from whisperbench.bench.scenarios.records import CONFIG_FIELDS, SCENARIO_IDENTITY, ok_rows

# ----- report ---------------------------------------------------------------------------


def _f(x: Any, spec: str = ".3g") -> str:
    return "n/a" if x is None else format(x, spec)


def config_label(r: dict[str, Any]) -> str:
    parts = [r.get("backend"), r.get("model"), r.get("quantization"), r.get("device"),
             "served" if r.get("served") in (True, "True") else None, r.get("dataset"), r.get("scenario")]
    if r.get("scenario") == "server":
        parts.append(f"{r.get('instances')}x")
        if (r.get("batch_size") or 1) > 1:
            parts.append(f"dyn-batch {r.get('batch_size')}")
    return " ".join(str(p) for p in parts if p not in (None, ""))


def _groups(rows: Iterable[dict[str, Any]], fields: Sequence[str]) -> dict[tuple, list[dict[str, Any]]]:
    out: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(identity_key(r, fields), []).append(r)
    return out


def _loaded(rows: list[dict[str, Any]]) -> bool:
    """Measured on a loaded machine (others' CPU time during the runs; `noise.judge_rows`)."""
    return bool(noise.judge_rows(rows).loaded)


def _point(r: dict[str, Any]) -> str:
    if r.get("point") == "batch":
        return f"batch {r.get('batch_size')}"
    if r.get("point") == "rate":
        return f"{_f(r.get('target_qps'))} q/s"
    return f"max rate at p{_f(r.get('latency_percentile'), 'g')} <= {_f(r.get('target_latency_s'), 'g')} s"


# An Offline curve runs through batch sizes; a Server curve through rates at one batch limit.
SWEEP_FIELDS = tuple(f for f in CONFIG_FIELDS if f != "batch_size")


def _curve_key(r: dict[str, Any]) -> tuple:
    return identity_key(r, SWEEP_FIELDS if r.get("point") == "batch" else CONFIG_FIELDS)


TABLE_HEADERS = ["configuration", "point", "samples/s", "audio s/s", "p50 s", "p90 s", "p99 s", "queue p90 s",
                 "max rate q/s", "peak RSS MB", "J / audio h", "$ / audio h", "WER", "loaded"]


def table(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]], list[str]]:
    """Headers, one line per (configuration, point) (repeats: medians), and notes (the
    Offline knee of each configuration, energy that could not be read)."""
    lines, notes = [], []
    for key, group in sorted(_groups(ok_rows(rows), SCENARIO_IDENTITY).items()):
        r = group[0]
        med = lambda col: statistics.median(v) if (v := [g[col] for g in group if g.get(col) is not None]) else None
        point = _point(r)
        lines.append([config_label(r), point, _f(med("samples_per_second")), _f(med("throughput_rtfx")),
                      _f(med("latency_p50_s")), _f(med("latency_p90_s")), _f(med("latency_p99_s")),
                      _f(med("queue_wait_p90_s")), _f(med("max_rate_qps")) if r.get("point") == "max_rate" else "",
                      _f(med("peak_rss_mb"), ".0f"), _f(med("joules_per_audio_hour")), _f(med("dollars_per_audio_hour")),
                      "n/a" if med("wer") is None else f"{100 * med('wer'):.1f}%", "yes" if _loaded(group) else "no"])
    offline = [r for r in ok_rows(rows, "batch")]
    for key, group in sorted(_groups(offline, SWEEP_FIELDS).items()):
        by_size = _groups(group, ("batch_size",))
        pts = [(int(k[0]), statistics.median(g["throughput_rtfx"] for g in v)) for k, v in by_size.items()]
        if len(pts) > 1:
            notes.append(f"{config_label(group[0])}: throughput stops rising at batch {knee(pts)} "
                         f"(sizes {', '.join(str(b) for b, _ in sorted(pts))})")
    energy = {r.get("energy_note") for r in rows if r.get("energy_joules") is None and r.get("energy_note")}
    notes += [f"energy {n}" for n in sorted(energy)]  # "energy not readable here: <why>"
    return TABLE_HEADERS, lines, notes


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    from whisperbench.bench.report import markdown_table

    headers, lines, notes = table(rows)
    out = ["## Deployment scenarios (MLPerf LoadGen)", "",
           "Latency is LoadGen's, from a query's arrival to its completion (queueing included); queue wait is the "
           "part before an instance took it. Offline: the whole set issued at once.", "",
           markdown_table(headers, lines)]
    if notes:
        out += [""] + [f"- {n}" for n in notes]
    return "\n".join(out)


def throughput_latency_png(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """p90 latency against completed samples/s: a line per configuration, through its Offline
    batch sizes or its Server rates (log latency axis)."""
    from whisperbench.bench.plots import _figure, _save

    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    points = [r for r in ok_rows(rows) if r.get("point") in ("batch", "rate")]
    curves: dict[tuple, list[dict[str, Any]]] = {}
    for r in points:
        curves.setdefault(_curve_key(r), []).append(r)
    for key, group in sorted(curves.items()):
        group = sorted(group, key=lambda r: (r.get("batch_size") or 0, r.get("target_qps") or 0))
        xs = [r.get("samples_per_second") for r in group]
        ys = [r.get("latency_p90_s") for r in group]
        pairs = [(x, y, r) for x, y, r in zip(xs, ys, group) if x and y]
        if not pairs:
            continue
        line, = ax.plot([p[0] for p in pairs], [p[1] for p in pairs], marker="o", label=config_label(group[0]))
        if group[0].get("point") == "batch":
            for x, y, r in pairs:
                ax.annotate(f"b{r.get('batch_size')}", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    for r in ok_rows(rows, "max_rate"):
        if r.get("target_latency_s"):
            ax.axhline(r["target_latency_s"], color="grey", linestyle=":", linewidth=0.8)
    ax.set_xlabel("throughput (completed samples / s)")
    ax.set_ylabel("p90 latency (s), queueing included")
    ax.set_yscale("log")
    ax.set_title("Throughput vs latency (MLPerf LoadGen Offline / Server)")
    if ax.lines:
        ax.legend(fontsize=7, loc="best")
    return _save(fig, path)


def write_section(paths: Any, output_dir: str | Path) -> dict[str, Path]:
    """scenarios.md and scenarios.png in `output_dir` when the results hold scenario rows
    (the report's hook); {} when they hold none."""
    from whisperbench.bench.scenarios.records import read_scenario_rows

    rows = read_scenario_rows(paths)
    if not rows:
        return {}
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = throughput_latency_png(rows, out / "scenarios.png")
    md = out / "scenarios.md"
    md.write_text(markdown(rows) + f"\n\n![throughput vs latency]({png.name})\n", encoding="utf-8")
    return {"scenarios_md": md, "scenarios_png": png}


# ----- compare --------------------------------------------------------------------------

# What compare gates, per point kind: the value that falls when a candidate is worse.
GATED = {"batch": "throughput_rtfx", "max_rate": "max_rate_qps"}


@dataclass
class ScenarioComparison:
    label: str
    metric: str
    base: list[float]
    cand: list[float]
    slowdown: noise.RatioInterval | None  # baseline value / candidate value (> 1: the candidate is worse)
    regressed: bool = False
    note: str | None = None


@dataclass
class ScenarioCompareResult:
    cells: list[ScenarioComparison] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 2 if self.problems else (1 if any(c.regressed for c in self.cells) else 0)

    def markdown(self) -> str:
        from whisperbench.bench.report import markdown_table

        lines = [[c.label, c.metric, _f(statistics.median(c.base)), _f(statistics.median(c.cand)),
                  "n/a" if c.slowdown is None else f"{c.slowdown.value:.3f} [{c.slowdown.low:.3f}, {c.slowdown.high:.3f}]",
                  "REGRESSION" if c.regressed else (c.note or "ok")] for c in self.cells]
        out = ["## Scenarios: baseline vs candidate", "",
               markdown_table(["configuration / point", "metric", "baseline", "candidate",
                               "slowdown (base / cand) [95%]", "verdict"], lines)]
        out += [f"- {p}" for p in self.problems]
        return "\n".join(out)


def compare_scenarios(base: Sequence[dict[str, Any]], cand: Sequence[dict[str, Any]], *, max_slowdown: float,
                      run_noise: float = noise.DEFAULT_RUN_NOISE, gate_loaded: bool = False) -> ScenarioCompareResult:
    """Gate Offline throughput and the Server rate meeting its latency target. Each run
    (repeat) is one value; the slowdown baseline / candidate gets the interval compare uses
    for latency (`noise.ratio_interval`: between-run spread, or the assumed run-to-run noise
    with one run per side) and regresses by the same rule (`compare.speed_regressed`). Not
    gated across different hardware, or on a loaded machine unless `gate_loaded`."""
    from whisperbench.bench.compare import Interval, speed_regressed

    result = ScenarioCompareResult()
    b_groups = _groups([r for r in ok_rows(base) if r.get("point") in GATED], SCENARIO_IDENTITY)
    c_groups = _groups([r for r in ok_rows(cand) if r.get("point") in GATED], SCENARIO_IDENTITY)
    for key in sorted(set(b_groups) - set(c_groups)):
        result.problems.append(f"missing from the candidate: {config_label(b_groups[key][0])} "
                               f"({b_groups[key][0].get('point')})")
    for key in sorted(set(b_groups) & set(c_groups)):
        brows, crows = b_groups[key], c_groups[key]
        metric = GATED[brows[0]["point"]]
        bv = [r[metric] for r in brows if r.get(metric)]
        cv = [r[metric] for r in crows if r.get(metric)]
        label = f"{config_label(brows[0])}, {_point(brows[0])}"
        if not bv or not cv:
            result.cells.append(ScenarioComparison(label, metric, bv or [0.0], cv or [0.0], None,
                                                   regressed=bool(bv) and not cv,
                                                   note="no value on one side (no rate met the target)"))
            continue
        # Time per unit of work: the slowdown ratio of compare's latency gate.
        ratio = noise.ratio_interval([1 / v for v in bv], [1 / v for v in cv], run_noise=run_noise)
        cc = ScenarioComparison(label, metric, bv, cv, ratio)
        same_hw = {identity_key(r, HARDWARE_FIELDS) for r in brows} == {identity_key(r, HARDWARE_FIELDS) for r in crows}
        loaded = _loaded(brows) or _loaded(crows)
        if not same_hw:
            cc.note = "not comparable: different hardware"
        elif loaded and not gate_loaded:
            cc.note = "not gated: measured on a loaded machine"
        elif ratio is not None:
            cc.regressed = speed_regressed(Interval(ratio.value, ratio.low, ratio.high), max_slowdown)
        result.cells.append(cc)
    return result


# ----- recommend ------------------------------------------------------------------------

LATENCY_COLUMNS = {50.0: "latency_p50_s", 90.0: "latency_p90_s", 99.0: "latency_p99_s"}


@dataclass
class ScenarioChoice:
    label: str
    rate_qps: float  # the measured rate that held
    latency_s: float
    cost: float | None
    basis: str
    row: dict[str, Any]


def recommend_scenario(rows: Sequence[dict[str, Any]], *, rate: float, max_latency_s: float,
                       percentile: float = 90.0, device: str | None = None,
                       max_wer: float | None = None) -> tuple[ScenarioChoice | None, list[ScenarioChoice], str]:
    """The cheapest configuration measured to hold `rate` queries/s with its latency
    percentile <= `max_latency_s`: among Server runs at a rate >= `rate` that met it, the
    lowest $ per audio hour where every candidate has a price, else the lowest joules per
    audio hour where every one has energy, else the smallest peak memory. Returns
    (choice, all qualifying, the text to print)."""
    column = LATENCY_COLUMNS.get(float(percentile))
    if column is None:
        raise ValueError(f"percentile must be one of {', '.join(f'{p:g}' for p in LATENCY_COLUMNS)}")
    best: dict[tuple, ScenarioChoice] = {}
    for r in ok_rows(rows):
        if r.get("scenario") != "server" or r.get("point") not in ("rate", "max_rate"):
            continue
        served, lat = r.get("samples_per_second"), r.get(column)
        target = r.get("target_qps")
        if None in (served, lat, target) or target < rate or lat > max_latency_s:
            continue
        if device and str(r.get("device", "")).split(":")[0] != device:
            continue
        if max_wer is not None and (r.get("wer") is None or r["wer"] > max_wer):
            continue
        key = identity_key(r, CONFIG_FIELDS)
        choice = ScenarioChoice(config_label(r), target, lat, None, "", r)
        if key not in best or target < best[key].rate_qps:  # its cost at the rate closest to the one asked
            best[key] = choice
    found = list(best.values())
    for basis, col in (("$ per audio hour", "dollars_per_audio_hour"), ("joules per audio hour", "joules_per_audio_hour"),
                       ("peak memory (MB; no price or energy on every candidate)", "peak_rss_mb")):
        if found and all(c.row.get(col) is not None for c in found):
            for c in found:
                c.cost, c.basis = c.row[col], basis
            break
    found.sort(key=lambda c: (c.cost if c.cost is not None else float("inf"), c.latency_s))
    ask = f"{rate:g} requests/s with p{percentile:g} <= {max_latency_s:g} s"
    if not found:
        return None, [], f"no measured configuration holds {ask}"
    lines = [f"cheapest configuration holding {ask}: {found[0].label}",
             f"  measured at {found[0].rate_qps:.3g} q/s: p{percentile:g} {found[0].latency_s:.3g} s, "
             f"{found[0].basis} {_f(found[0].cost)}"]
    for c in found[1:3]:
        lines.append(f"  next: {c.label} ({c.basis} {_f(c.cost)}, p{percentile:g} {c.latency_s:.3g} s at {c.rate_qps:.3g} q/s)")
    return found[0], found, "\n".join(lines)
