"""A history across commits: each cell's metrics over the commits its results were measured
at, with the commit where `compare`'s gate would first have fired marked.

Input: our own results files (any number, e.g. one per CI run); every row carries
`git_commit`, `git_dirty` and a timestamp. A *series* is one cell (`records.CELL_IDENTITY`:
configuration, dataset, algorithm, decoding options); its *points* are the commits it was
measured at, in the order of their first measurement (a dirty tree is a point of its own,
`abc1234+dirty`; rows without a commit are one point per run). Runs of one commit are pooled.

Per point, with a 95 % interval:
- WER: corpus WER (errors / reference words, each utterance's errors averaged over its
  repeats and runs), interval by bootstrap over utterances;
- RTFx: the geometric mean of the runs' RTFx (audio seconds / the sum over utterances of the
  median decode seconds), and p90 latency (per run, of each utterance's median; the geometric
  mean of the runs' values), both with the interval `compare` uses for speed: from the spread
  of the commit's runs when it has two or more (Student's t on the logs), else the assumed
  run-to-run noise (`run_noise`), never narrower than the cell's own repeat spread;
- peak memory: the largest peak RSS of its runs, interval the smallest to the largest.

Regressions: walking each series forward, every point is compared with a reference point by
`compare.compare` with the same gates (WER increase, slowdown, new failures; speed gated only
on the same hardware and an unloaded machine). The reference starts at the first point; a
point where the gate fires is marked as a regression (with compare's reasons), and a point
that is a significant change either way (a regression, or an improvement whose interval
excludes no change) becomes the new reference, so each step is marked once, at the commit
that caused it, and a later return to the old level after an improvement is a regression
again. A point whose dataset changed (same cell, other content) is not compared; it restarts
the reference and says so.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from whisperbench.bench import compare as cmp
from whisperbench.bench import html_page, noise
from whisperbench.bench.aggregate import config_label, format_label, quantization_label
from whisperbench.bench.records import CELL_IDENTITY, CONFIGURATION_FIELDS, canon, identity_key
from whisperbench.errors import WhisperbenchError

# (field, label, better): the metrics charted per series; `better` is "low" or "high".
METRICS = (("wer", "WER (%)", "low"), ("rtfx", "RTFx", "high"), ("latency_p90_s", "p90 latency (s)", "low"),
           ("peak_rss_mb", "peak memory (MB)", "low"))
# Which metric's panel marks which of compare's gates.
GATE_PANEL = {"WER": "wer", "slower": "rtfx", "failed": "wer"}


@dataclass
class Value:
    value: float | None
    low: float | None = None
    high: float | None = None


@dataclass
class Point:
    commit: str  # label: 10 hex digits, "+dirty", or "run <id>"
    git_commit: str | None
    time: str  # first measurement at this commit (ISO)
    runs: int
    utterances: int
    failed_rows: int
    values: dict[str, Value] = field(default_factory=dict)
    regressions: list[str] = field(default_factory=list)  # compare's reasons, when its gate fired here
    reference: str | None = None  # the commit it was compared against
    notes: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)


@dataclass
class Series:
    label: str  # configuration · dataset/algorithm
    configuration: str
    workload: str  # dataset/algorithm [variant]
    identity: dict[str, Any]
    points: list[Point] = field(default_factory=list)

    def latest(self, metric: str) -> tuple[Point, Value] | None:
        for p in reversed(self.points):
            if p.values.get(metric) and p.values[metric].value is not None:
                return p, p.values[metric]
        return None

    def best(self, metric: str, better: str) -> tuple[Point, Value] | None:
        have = [(p, p.values[metric]) for p in self.points if p.values.get(metric) and p.values[metric].value is not None]
        if not have:
            return None
        pick = min if better == "low" else max
        return pick(have, key=lambda pv: pv[1].value)


@dataclass
class History:
    series: list[Series]
    commits: list[str]  # every point's commit label, in order
    sources: list[str]
    title: str
    gates: str  # the gates, in words
    warnings: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[tuple[Series, Point]]:
        """(series, point) of every regression, in commit order."""
        order = {c: i for i, c in enumerate(self.commits)}
        found = [(s, p) for s in self.series for p in s.points if p.regressed]
        return sorted(found, key=lambda sp: order[sp[1].commit])

    def summary_rows(self) -> tuple[list[str], list[list[str]], list[str]]:
        """The latest value against the best seen, per series and metric; row classes mark a
        series whose latest point is a regression."""
        headers = ["configuration", "dataset / algorithm", "metric", "latest", "latest commit", "best", "best commit",
                   "latest vs best", "commits", "regressions marked"]
        rows, classes = [], []
        for s in self.series:
            marked = [p.commit for p in s.points if p.regressed]
            for metric, name, better in METRICS:
                latest, best = s.latest(metric), s.best(metric, better)
                if latest is None:
                    continue
                (lp, lv), (bp, bv) = latest, best
                change = "–"
                if bv.value:
                    rel = lv.value / bv.value - 1
                    change = "best" if lv.value == bv.value else f"{100 * rel:+.1f}%"
                rows.append([s.configuration, s.workload, name, fmt_value(metric, lv), lp.commit, fmt_value(metric, bv),
                             bp.commit, change, str(len(s.points)), ", ".join(marked) or "none"])
                classes.append("regression" if s.points[-1].regressed else "")
        return headers, rows, classes

    def markdown(self) -> str:
        out = [f"## {self.title}", "", f"Results: {', '.join(f'`{s}`' for s in self.sources)}. "
               f"{len(self.series)} series (cells) over {len(self.commits)} commits. {self.gates}", ""]
        for w in self.warnings:
            out += [f"> ⚠️ {w}", ""]
        regs = self.regressions
        out.append(f"### Regressions ({len(regs)})")
        out.append("")
        out += [f"- **{p.commit}** {s.label}: {'; '.join(p.regressions)} (against {p.reference})" for s, p in regs] or [
            "- none"]
        out.append("")
        out.append("### Latest against best")
        out.append("")
        from whisperbench.bench.report import markdown_table

        headers, rows, _ = self.summary_rows()
        out.append(markdown_table(headers, rows))
        out.append("")
        return "\n".join(out)

    def html(self) -> str:
        from whisperbench.bench import charts

        headers, rows, classes = self.summary_rows()
        regs = self.regressions
        reg_list = "".join(f"<li><b>{html_page.esc(p.commit)}</b> {html_page.esc(s.label)}: "
                           f"{html_page.esc('; '.join(p.regressions))} (against {html_page.esc(p.reference)})</li>"
                           for s, p in regs) or "<li>none</li>"
        warn = "".join(f'<p class="note">⚠️ {html_page.esc(w)}</p>' for w in self.warnings)
        sections, n = [], 0
        by_config: dict[str, list[Series]] = {}
        for s in self.series:
            by_config.setdefault(s.configuration, []).append(s)
        for config, series in by_config.items():
            sections.append(f"<h3>{html_page.esc(config)}</h3>")
            for s in series:
                n += 1
                sections.append(html_page.chart(charts.history(s, self.commits), f"history-{n}"))
        body = f"""<h1>{html_page.esc(self.title)}</h1>
<p class="note">Results: {html_page.esc(', '.join(self.sources))}. {len(self.series)} series (one per cell:
configuration, dataset, algorithm, decoding options) over {len(self.commits)} commits, in the order they were
first measured. Each point is one commit (its runs pooled) with a 95% interval. {html_page.esc(self.gates)}
Click a column header to sort; type in the box above a table to filter its rows.</p>
{warn}
<h2>Regressions ({len(regs)})</h2>
<ul>{reg_list}</ul>
<h2>Latest against best</h2>
{html_page.table(headers, rows, "latest-vs-best", text_columns=(0, 1, 2, 4, 6, 9), row_classes=classes)}
<h2>Metrics over commits</h2>
{"".join(sections)}"""
        return html_page.page(self.title, body, charts=True)

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "commits": self.commits, "sources": self.sources, "series": [
            {"label": s.label, "identity": s.identity, "points": [
                {"commit": p.commit, "git_commit": p.git_commit, "time": p.time, "runs": p.runs,
                 "regressions": p.regressions, "reference": p.reference, "notes": p.notes,
                 "values": {k: vars(v) for k, v in p.values.items()}} for p in s.points]}
            for s in self.series]}


def fmt_value(metric: str, v: Value) -> str:
    from whisperbench.bench.report import format_value

    if v.value is None:
        return "–"
    scale = 100 if metric == "wer" else 1
    text = format_value(metric, v.value) if metric != "wer" else f"{scale * v.value:.2f}%"
    if v.low is not None and v.high is not None and metric != "peak_rss_mb":
        lo, hi = scale * v.low, scale * v.high
        text += f" [{lo:.2f}, {hi:.2f}]" if metric in ("wer", "rtfx") else f" [{lo:.3g}, {hi:.3g}]"
    return text


# ---------------------------------------------------------------------------------------
# building


def _commit_labels(df):
    """A point label per row: the commit (10 digits, `+dirty`), or `run <id>` without one."""
    out = []
    for c, d, r in zip(df["git_commit"] if "git_commit" in df else [None] * len(df),
                       df["git_dirty"] if "git_dirty" in df else [None] * len(df), df["run_id"]):
        c = canon(c)
        out.append(f"{c[:10]}{'+dirty' if d is True else ''}" if c else f"run {str(r)[:8]}")
    return out


def wer_value(ok, n_boot: int, seed: int = 0) -> Value:
    """Corpus WER with a bootstrap interval over utterances (`compare`'s per-utterance errors)."""
    import numpy as np

    err, words, _ = cmp._per_utterance_errors(ok)
    if not len(words) or words.sum() <= 0:
        return Value(None)
    point = float(err.sum() / words.sum())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(words), size=(n_boot, len(words)))
    w = words[idx].sum(axis=1)
    boot = err[idx].sum(axis=1)[w > 0] / w[w > 0]
    lo, hi = np.percentile(boot, [2.5, 97.5]) if len(boot) else (point, point)
    return Value(point, float(lo), float(hi))


def timing_value(per_run: Sequence[float], repeat_spread: float, run_noise: float) -> Value:
    """The geometric mean of per-run values with compare's run-to-run interval: Student's t
    on the logs of two or more runs, else the assumed `run_noise`; at least the repeat spread."""
    logs = [math.log(x) for x in per_run if x and x > 0]
    if not logs:
        return Value(None)
    mean = statistics.fmean(logs)
    if len(logs) >= 2:
        half = noise.t975(len(logs) - 1) * max(statistics.stdev(logs), repeat_spread) / math.sqrt(len(logs))
    else:
        half = noise.Z95 * max(run_noise, repeat_spread)
    return Value(math.exp(mean), math.exp(mean - half), math.exp(mean + half))


def _point_values(ok, n_boot: int, run_noise: float) -> dict[str, Value]:
    import numpy as np

    from whisperbench.bench.store import repeat_totals, utterance_latency

    values = {"wer": wer_value(ok, n_boot)}
    lat = utterance_latency(ok)
    rtfx, p90, spread = [], [], []
    for run_id, g in lat.groupby("run_id", sort=False):
        dec = g["latency_median_s"].sum()
        if dec > 0:
            rtfx.append(float(g["audio_seconds"].sum() / dec))
        p90.append(float(np.percentile(g["latency_median_s"].to_numpy(float), 90)))
        spread.append(noise.log_sd(repeat_totals(ok[ok["run_id"] == run_id])))
    s = max(spread) if spread else 0.0
    values["rtfx"] = timing_value(rtfx, s, run_noise)
    values["latency_p90_s"] = timing_value(p90, s, run_noise)
    peaks = ok.groupby("run_id")["peak_rss_mb"].max().dropna()
    values["peak_rss_mb"] = (Value(float(peaks.max()), float(peaks.min()), float(peaks.max())) if len(peaks)
                             else Value(None))
    return values


def build_history(paths, *, max_wer_increase: float = cmp.DEFAULT_MAX_WER_INCREASE,
                  max_slowdown: float = cmp.DEFAULT_MAX_SLOWDOWN, run_noise: float = noise.DEFAULT_RUN_NOISE,
                  bootstrap: int = cmp.DEFAULT_BOOTSTRAP, title: str | None = None) -> History:
    """Read results (files, folders) and build every series' points and regressions."""
    import pandas as pd

    from whisperbench.bench.store import read_results

    cmp._check_arguments((), max_wer_increase, max_slowdown, "auto", run_noise)
    if isinstance(paths, (str, Path)):
        paths = [paths]
    df = read_results(paths)
    if df.empty:
        raise WhisperbenchError(f"no measurement rows in {', '.join(map(str, paths))}")
    df = df.assign(_point=_commit_labels(df),
                   _time=pd.to_datetime(df["timestamp"], utc=True, errors="coerce") if "timestamp" in df else pd.NaT)
    first = df.groupby("_point")["_time"].min().sort_values(kind="stable")
    commits = list(first.index)
    warnings = []
    no_commit = [c for c in commits if c.startswith("run ")]
    if no_commit:
        warnings.append(f"{len(no_commit)} run(s) carry no git commit; each is a point of its own")
    df["_series"] = [identity_key(r) for r in df[[f for f in CELL_IDENTITY if f in df]].to_dict("records")]
    series = []
    for key, rows in df.groupby("_series", sort=False):
        s = _series(rows, commits, first, max_wer_increase, max_slowdown, run_noise, bootstrap)
        series.append(s)
    series.sort(key=lambda s: (s.configuration, s.workload))
    gates = (f"Regressions are marked where `whisperbench compare` would first have fired against the previous "
             f"reference point: WER up more than {max_wer_increase:g} points, or more than {max_slowdown:g}× slower "
             "(same hardware, unloaded machine), each only when its 95% interval excludes no change; or new failures.")
    suites = sorted({str(x) for x in df["suite"].dropna().unique()}) if "suite" in df else []
    return History(series=series, commits=commits, sources=[str(p) for p in paths],
                   title=title or f"whisperbench history: {', '.join(suites) or 'results'}", gates=gates,
                   warnings=warnings)


def _series(rows, commits: list[str], first, max_wer_increase: float, max_slowdown: float, run_noise: float,
            bootstrap: int) -> Series:
    head = rows.iloc[0].to_dict()
    ident = {f: head.get(f) for f in CELL_IDENTITY}
    conf = {f: canon(head.get(f)) for f in CONFIGURATION_FIELDS}
    conf["variant"] = conf["variant"] or "default"
    configuration = (f"{config_label(conf)} · format {format_label(head)} · {quantization_label(head)}")
    workload = f"{head.get('dataset')}/{head.get('algorithm')}"
    s = Series(label=f"{config_label(conf)} · {workload}", configuration=configuration, workload=workload,
               identity={k: v for k, v in ident.items() if not isinstance(v, float) or v == v})
    reference = None  # (label, rows)
    order = {c: i for i, c in enumerate(commits)}
    for commit, g in sorted(rows.groupby("_point", sort=False), key=lambda kv: order[kv[0]]):
        ok = g[g["status"] == "ok"]
        p = Point(commit=commit, git_commit=canon(g["git_commit"].iloc[0]) or None if "git_commit" in g else None,
                  time=str(first[commit]), runs=int(g["run_id"].nunique()), utterances=int(ok["utterance_id"].nunique()),
                  failed_rows=int((g["status"] == "failed").sum()))
        if len(ok):
            p.values = _point_values(ok, bootstrap, run_noise)
        if reference is not None:
            _gate(p, reference, g, max_wer_increase, max_slowdown, run_noise, bootstrap)
            if len(ok) and (p.regressed or "moved" in p.notes or not p.reference):
                reference = (commit, g)  # the new level (a failed point never becomes the reference)
        elif len(ok):
            reference = (commit, g)
        p.notes = [n for n in p.notes if n != "moved"]
        s.points.append(p)
    return s


def _gate(p: Point, reference: tuple[str, Any], rows, max_wer_increase: float, max_slowdown: float,
          run_noise: float, bootstrap: int) -> None:
    """Compare this point's rows with the reference point's by `compare.compare`; record the
    regressions, and "moved" in the notes when it is a significant change either way."""
    ref_label, ref_rows = reference
    c = cmp.compare(ref_rows, rows, max_wer_increase=max_wer_increase, max_slowdown=max_slowdown,
                    run_noise=run_noise, bootstrap=bootstrap, allow_missing=True,
                    baseline_name=ref_label, candidate_name=p.commit)
    if c.mismatched or c.problems or not c.cells:
        p.notes.append("not compared: " + "; ".join(c.mismatched + c.problems or ["no rows to compare"]))
        return  # p.reference stays None: the reference restarts here
    p.reference = ref_label
    cell = c.cells[0]
    p.regressions = list(cell.regressions)
    p.notes += cell.speed_notes
    wer, lat = cell.wer_delta_points, cell.latency_ratio
    improved = ((wer.high is not None and wer.high < 0 and -wer.value > max_wer_increase) or
                (cell.speed_comparable and lat.high is not None and lat.high < 1 and lat.value < 1 / max_slowdown))
    if p.regressed or improved:
        p.notes.append("moved")


def write_history(paths, output_dir: str | Path, **kwargs: Any) -> tuple[History, dict[str, Path]]:
    """Build the history of `paths` (`build_history`) and write it (`render_history`)."""
    from whisperbench.files import output_folder

    output_folder(output_dir, "history folder")  # checked before the results are read
    hist = build_history(paths, **kwargs)
    return hist, render_history(hist, output_dir)


def render_history(hist: History, output_dir: str | Path) -> dict[str, Path]:
    """Write index.html (interactive, self-contained), history.md and history.json into
    `output_dir`; return {kind: path}."""
    from whisperbench.files import output_folder, write_text_atomic

    out = output_folder(output_dir, "history folder")
    out.mkdir(parents=True, exist_ok=True)
    written = {"html": out / "index.html", "markdown": out / "history.md", "json": out / "history.json"}
    write_text_atomic(written["html"], hist.html())
    write_text_atomic(written["markdown"], hist.markdown() + "\n")
    write_text_atomic(written["json"], json.dumps(hist.to_json(), indent=1, default=str) + "\n")
    return written
