"""Compare a candidate run against a baseline, cell by cell, with uncertainty.

Cells are matched by identity (`records.CELL_IDENTITY`: engine, load options, dataset name,
algorithm, decoding variant and options), not by `cell_id`, so that a changed dataset
is reported as a mismatch rather than as a missing cell. `ignore=` drops fields from the
match, to compare across a deliberate change (e.g. `compute_type`/`quantization` for
int8 against float16, or `load_extra`).

Per matched cell, over the utterances both sides measured:

- WER change in absolute points, with a 95% paired bootstrap interval over utterances
  (corpus WER = errors / reference words of each resample, per-utterance errors averaged
  over repeats).
- Latency ratio candidate / baseline (sum over utterances of the median decode time over
  repeats, i.e. the inverse RTFx ratio; with several runs on a side, the geometric mean of
  the runs' totals), with a 95% interval calibrated to run-to-run noise
  (`whisperbench.bench.noise.ratio_interval`): a side may hold several runs of a cell
  (`baseline save NAME r1 r2 r3`, or several candidate files) and their spread estimates
  the between-run variance (Student's t); with one run per side an assumed run-to-run
  noise (`run_noise`, default `noise.DEFAULT_RUN_NOISE`) is used and the output says so.
  The interval is never narrower than the within-run bootstrap that resamples utterances
  and, within each, repeats. Its half-width is the cell's *resolution*: the smallest
  slowdown the data can tell from noise; a `max_slowdown` below it cannot be honoured and
  the output says so (in effect the cell is gated at its resolution).

Gates (a cell regresses when):
- WER: the increase exceeds `max_wer_increase` points and the interval's lower end is
  above 0 (the increase is not explained by which utterances happen to be in the set);
- speed: the ratio exceeds `max_slowdown` and the interval's lower end is above 1 -- only
  when both sides ran on the same hardware (`records.HARDWARE_FIELDS`: CPU model, logical
  CPUs, GPU) and neither side was measured on a loaded machine (`noise.judge_rows`: other
  processes took CPU time during the timed regions); otherwise speed is shown, marked not comparable (and why), and not
  gated (`gate_loaded=True` gates loaded rows anyway). Rows from before the load was
  recorded are gated, marked "load not recorded";
- failures: the candidate has failed rows where the baseline had none.

Exit codes (`Comparison.exit_code`): 2 when the input is unusable (no rows, a cell whose
dataset differs -- same identity, different `dataset_hash` --, a baseline cell missing from
the candidate, or one where the candidate measured far fewer utterances (under
`MIN_COVERAGE` of the baseline's: an interrupted run), unless `allow_missing`, runs of one
side that match one cell but differ in an ignored field or dataset, nothing in common);
else 1 when any cell regresses; else 0.
Several runs of one identical cell on a side are replicates, not a problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from whisperbench.bench import noise
from whisperbench.bench.records import CELL_IDENTITY, HARDWARE_FIELDS, canon, identity_key
from whisperbench.errors import WhisperbenchError

DEFAULT_MAX_WER_INCREASE = 1.0  # absolute WER points
DEFAULT_MAX_SLOWDOWN = 1.5  # latency ratio candidate / baseline
# Word timestamps: allowed drop of the share of word boundaries within 250 ms of the
# reference (bench.word_metrics), in absolute points.
DEFAULT_MAX_WORD_TIMING_DROP = 5.0
DEFAULT_BOOTSTRAP = 2000
# A candidate cell that measured fewer than this share of the baseline cell's utterances is
# incomplete: gating it on the few it has would pass an interrupted run.
MIN_COVERAGE = 0.9


def _short(value: Any, width: int = 24) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _difference(name: str, a: Any, b: Any) -> str:
    """`name: a → b`; for dicts only the keys that differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(k for k in set(a) | set(b) if canon(a.get(k)) != canon(b.get(k)))
        return f"{name}: " + ", ".join(
            f"{k}={_short(a[k]) if k in a else '(unset)'} → {_short(b[k]) if k in b else '(unset)'}" for k in keys)
    return f"{name}: {_short(a)} → {_short(b)}"


def cell_label(identity: dict[str, Any]) -> str:
    """`backend model quantization device [Nt] [extra] · dataset/algorithm [variant]`."""
    parts = [str(identity.get(k)) for k in ("backend", "model", "quantization", "device") if identity.get(k) is not None]
    threads = identity.get("threads")
    if threads not in (None, 0, "0"):
        parts.append(f"{threads}t")
    extra = identity.get("load_extra")
    if isinstance(extra, dict) and extra:
        parts.append(",".join(f"{k}={_short(v)}" for k, v in sorted(extra.items())))
    where = f"{identity.get('dataset')}/{identity.get('algorithm')}"
    if identity.get("variant") not in (None, "default"):
        where += f" [{identity['variant']}]"
    return " ".join(parts) + " · " + where


@dataclass
class Interval:
    value: float | None
    low: float | None
    high: float | None

    def fmt(self, spec: str, suffix: str = "", signed: bool = False) -> str:
        if self.value is None:
            return "n/a"
        f = (lambda x: format(x, "+" + spec)) if signed else (lambda x: format(x, spec))
        if self.low is None or self.high is None:
            return f"{f(self.value)}{suffix}"
        return f"{f(self.value)}{suffix} [{f(self.low)}, {f(self.high)}]"


@dataclass
class CellComparison:
    label: str
    identity: dict[str, Any]
    baseline_cell: str
    candidate_cell: str
    n_utterances: int
    baseline_utterances: int
    candidate_utterances: int
    wer_baseline: float | None
    wer_candidate: float | None
    wer_delta_points: Interval
    latency_ratio: Interval
    rtfx_baseline: float | None
    rtfx_candidate: float | None
    failures_baseline: int
    failures_candidate: int
    speed_comparable: bool
    runs_baseline: int = 1
    runs_candidate: int = 1
    speed_basis: str = ""  # how the latency interval was made
    resolution: float | None = None  # smallest slowdown these data tell from noise
    speed_notes: list[str] = field(default_factory=list)  # why speed is not gated / load notes
    # Word timestamps (cells with reference word times): share of boundaries within 250 ms.
    word_within_baseline: float | None = None
    word_within_candidate: float | None = None
    word_within_delta_points: Interval | None = None
    regressions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)


@dataclass
class Comparison:
    baseline: str
    candidate: str
    max_wer_increase: float
    max_slowdown: float
    bootstrap: int
    ignore: tuple[str, ...]
    run_noise: float = noise.DEFAULT_RUN_NOISE
    gate_loaded: bool = False
    cells: list[CellComparison] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the baseline, not in the candidate
    incomplete: list[str] = field(default_factory=list)  # the candidate measured far fewer utterances
    new: list[str] = field(default_factory=list)  # in the candidate only (not gated)
    mismatched: list[str] = field(default_factory=list)  # same identity, different dataset_hash
    problems: list[str] = field(default_factory=list)  # other reasons the input is unusable
    warnings: list[str] = field(default_factory=list)
    allow_missing: bool = False
    max_word_timing_drop: float = DEFAULT_MAX_WORD_TIMING_DROP

    @property
    def unusable(self) -> bool:
        return bool(self.problems or self.mismatched or ((self.missing or self.incomplete) and not self.allow_missing))

    @property
    def regressions(self) -> list[CellComparison]:
        return [c for c in self.cells if c.regressed]

    @property
    def exit_code(self) -> int:
        if self.unusable:
            return 2
        return 1 if self.regressions else 0

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([{
            "cell": c.label, "n_utterances": c.n_utterances,
            "wer_baseline": c.wer_baseline, "wer_candidate": c.wer_candidate,
            "wer_delta_points": c.wer_delta_points.value, "wer_delta_low": c.wer_delta_points.low,
            "wer_delta_high": c.wer_delta_points.high,
            "latency_ratio": c.latency_ratio.value, "latency_ratio_low": c.latency_ratio.low,
            "latency_ratio_high": c.latency_ratio.high,
            "rtfx_baseline": c.rtfx_baseline, "rtfx_candidate": c.rtfx_candidate,
            "speed_comparable": c.speed_comparable, "runs_baseline": c.runs_baseline,
            "runs_candidate": c.runs_candidate, "speed_resolution": c.resolution, "speed_basis": c.speed_basis,
            "speed_notes": "; ".join(c.speed_notes), "regressed": c.regressed,
            "regressions": "; ".join(c.regressions),
        } for c in self.cells])

    def markdown(self) -> str:
        return comparison_markdown(self)


# ---------------------------------------------------------------------------------------
# statistics


def _per_utterance_errors(rows) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per utterance: mean edit errors over repeats, reference words (utterances with an
    empty reference have no WER and are left out, as in `store.summarize`)."""
    rows = rows[rows["ref_words"] > 0]
    g = rows.assign(_err=rows["substitutions"] + rows["deletions"] + rows["insertions"]).groupby(
        "utterance_id", sort=True)
    agg = g.agg(err=("_err", "mean"), words=("ref_words", "first"))
    return agg["err"].to_numpy(float), agg["words"].to_numpy(float), list(agg.index)


def wer_delta(base_rows, cand_rows, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> tuple[float | None, float | None, Interval]:
    """Corpus WER of each side and the paired bootstrap of the difference (in points), over
    the utterances present in both."""
    eb, wb, ub = _per_utterance_errors(base_rows)
    ec, wc, uc = _per_utterance_errors(cand_rows)
    common = sorted(set(ub) & set(uc))
    ib = {u: i for i, u in enumerate(ub)}
    ic = {u: i for i, u in enumerate(uc)}
    eb = eb[[ib[u] for u in common]]
    ec = ec[[ic[u] for u in common]]
    w = wb[[ib[u] for u in common]]
    if not common or w.sum() <= 0:
        return None, None, Interval(None, None, None)
    return float(eb.sum() / w.sum()), float(ec.sum() / w.sum()), ratio_delta(eb, w, ec, w, n_boot, seed)


def ratio_delta(nb: np.ndarray, db: np.ndarray, nc: np.ndarray, dc: np.ndarray, n_boot: int = DEFAULT_BOOTSTRAP,
                seed: int = 0) -> Interval:
    """The change in points of a pooled ratio, sum(numerators) / sum(denominators), from the
    baseline (nb / db) to the candidate (nc / dc), both per utterance and paired, with the
    95% bootstrap interval over utterances."""
    delta = 100.0 * (nc.sum() / dc.sum() - nb.sum() / db.sum())
    n = len(nb)
    rng = np.random.default_rng(seed)
    deltas = []
    chunk = max(1, min(n_boot, 2_000_000 // max(n, 1)))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        idx = rng.integers(0, n, size=(b, n))
        sb, sc = db[idx].sum(axis=1), dc[idx].sum(axis=1)
        ok = (sb > 0) & (sc > 0)
        d = np.full(b, np.nan)
        d[ok] = 100.0 * (nc[idx].sum(axis=1)[ok] / sc[ok] - nb[idx].sum(axis=1)[ok] / sb[ok])
        deltas.append(d)
        done += b
    deltas = np.concatenate(deltas)
    deltas = deltas[np.isfinite(deltas)]
    low, high = (np.percentile(deltas, [2.5, 97.5]) if len(deltas) else (None, None))
    return Interval(float(delta), _f(low), _f(high))


def _per_utterance_word_timing(rows) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per utterance: boundaries within 250 ms and boundaries compared, means over repeats
    (rows without word times left out)."""
    if "word_within_250ms" not in rows or "word_matched_words" not in rows:
        return np.zeros(0), np.zeros(0), []  # results recorded before word timing was measured
    rows = rows[rows["word_within_250ms"].notna()]
    bounds = 2 * rows["word_matched_words"].astype(float)
    g = rows.assign(_hit=rows["word_within_250ms"].astype(float) * bounds, _n=bounds).groupby("utterance_id", sort=True)
    agg = g.agg(hit=("_hit", "mean"), n=("_n", "mean"))
    return agg["hit"].to_numpy(float), agg["n"].to_numpy(float), list(agg.index)


def word_timing_verdict(cc: CellComparison, base, cand, max_drop: float, n_boot: int) -> None:
    """The share of word boundaries within 250 ms on each side and its change; a regression
    when it drops by more than `max_drop` points and the interval excludes no change (the
    WER gate's rule, mirrored). Cells without word times are left alone."""
    hb, nb, ub = _per_utterance_word_timing(base)
    hc, nc, uc = _per_utterance_word_timing(cand)
    common = sorted(set(ub) & set(uc))
    if not common:
        return
    ib, ic = {u: i for i, u in enumerate(ub)}, {u: i for i, u in enumerate(uc)}
    hb, nb = hb[[ib[u] for u in common]], nb[[ib[u] for u in common]]
    hc, nc = hc[[ic[u] for u in common]], nc[[ic[u] for u in common]]
    if nb.sum() <= 0 or nc.sum() <= 0:
        return
    cc.word_within_baseline, cc.word_within_candidate = float(hb.sum() / nb.sum()), float(hc.sum() / nc.sum())
    d = cc.word_within_delta_points = ratio_delta(hb, nb, hc, nc, n_boot)
    if d.value is not None and -d.value > max_drop and (d.high is None or d.high < 0):
        cc.regressions.append(f"word boundaries within 250 ms {d.value:.2f} points < -{max_drop:g} "
                              f"({100 * cc.word_within_baseline:.1f}% → {100 * cc.word_within_candidate:.1f}%)")


def _f(x) -> float | None:
    return None if x is None else float(x)


def _latency_matrix(rows, utterances: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(n_utterances x max_repeats) decode seconds, NaN-padded, and the repeat counts."""
    groups = {u: g.sort_values("repeat")["decode_seconds"].to_numpy(float) for u, g in rows.groupby("utterance_id")}
    r = max(len(groups[u]) for u in utterances)
    mat = np.full((len(utterances), r), np.nan)
    counts = np.zeros(len(utterances), dtype=int)
    for i, u in enumerate(utterances):
        v = groups[u]
        mat[i, : len(v)] = v
        counts[i] = len(v)
    return mat, counts


def latency_ratio(base_rows, cand_rows, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 1) -> Interval:
    """Candidate / baseline total latency (sum of per-utterance medians over repeats), with a
    bootstrap over utterances (paired) and, within each, over repeats."""
    common = sorted(set(base_rows["utterance_id"]) & set(cand_rows["utterance_id"]))
    if not common:
        return Interval(None, None, None)
    mb, cb = _latency_matrix(base_rows, common)
    mc, cc = _latency_matrix(cand_rows, common)
    tb = np.nanmedian(mb, axis=1).sum()
    tc = np.nanmedian(mc, axis=1).sum()
    if tb <= 0:
        return Interval(None, None, None)
    point = tc / tb
    n = len(common)
    rng = np.random.default_rng(seed)
    r = max(mb.shape[1], mc.shape[1])
    b_total = max(200, min(n_boot, 4_000_000 // max(n * r, 1)))
    idx = rng.integers(0, n, size=(b_total, n))

    def resampled(mat: np.ndarray, counts: np.ndarray) -> np.ndarray:
        k = mat.shape[1]
        rep = (rng.random((b_total, n, k)) * counts[idx][..., None]).astype(int)
        vals = mat[idx[..., None], rep]
        return np.median(vals, axis=2).sum(axis=1)

    sb = resampled(mb, cb)
    sc = resampled(mc, cc)
    ratios = sc[sb > 0] / sb[sb > 0]
    low, high = np.percentile(ratios, [2.5, 97.5]) if len(ratios) else (None, None)
    return Interval(float(point), _f(low), _f(high))


def speed_regressed(ratio: Interval, max_slowdown: float) -> bool:
    """The speed gate: slower than `max_slowdown` and the interval excludes no change. When
    the true ratio is 1 and the interval's noise model holds, this fires in at most 2.5 %
    of comparisons (the interval's upper tail), fewer as `max_slowdown` grows."""
    return ratio.value is not None and ratio.value > max_slowdown and (ratio.low is None or ratio.low > 1)


def _run_totals(rows, utterances: Sequence[str]) -> list[float]:
    """Per run: decode seconds summed over `utterances` of each one's median over repeats."""
    out = []
    for _, g in rows.groupby("run_id", sort=False):
        med = g.groupby("utterance_id")["decode_seconds"].median()
        if set(utterances) <= set(med.index):
            out.append(float(med.loc[list(utterances)].sum()))
    return out


def _load_note(side: str, rows) -> tuple[bool, str | None]:
    """(loaded, note) for one side's rows, run by run."""
    loaded, unknown = [], 0
    for run_id, g in rows.groupby("run_id", sort=False):
        v = noise.judge_rows(g)
        if v.loaded:
            loaded.append(v.marks()[0])
        elif v.loaded is None:
            unknown += 1
    if loaded:
        return True, f"{side} measured on a loaded machine ({'; '.join(loaded)})"
    if unknown:
        return False, f"{side}: load not recorded (results from before whisperbench recorded it)"
    return False, None


def _speed(cc: CellComparison, base, cand, within: Interval, run_noise: float, gate_loaded: bool) -> None:
    """The latency ratio with its run-to-run interval, and whether speed can be gated."""
    # Run totals over the utterances every run of both sides measured.
    sets = [set(g["utterance_id"]) for rows in (base, cand) for _, g in rows.groupby("run_id", sort=False)]
    utts = sorted(set.intersection(*sets))
    tb, tc = _run_totals(base, utts), _run_totals(cand, utts)
    cc.runs_baseline, cc.runs_candidate = base["run_id"].nunique(), cand["run_id"].nunique()
    bounds = (within.low, within.high) if within.low is not None and within.high is not None else None
    if not utts and within.value:  # no utterance in every run: the pooled ratio, as one run per side
        tb, tc = [1.0], [within.value]
    r = noise.ratio_interval(tb, tc, run_noise=run_noise, within=bounds) if tb and tc else None
    if r is None:
        cc.latency_ratio = within
    else:
        cc.latency_ratio = Interval(r.value, r.low, r.high)
        cc.speed_basis, cc.resolution = r.basis, r.resolution
    for side, rows in (("baseline", base), ("candidate", cand)):
        loaded, note = _load_note(side, rows)
        if note:
            cc.speed_notes.append(note)
        if loaded and not gate_loaded and cc.speed_comparable:
            cc.speed_comparable = False
            cc.speed_notes.append("speed not gated: timings from a loaded machine are not evidence about the code")


# ---------------------------------------------------------------------------------------
# matching


def _hardware(rows) -> tuple:
    return tuple(canon(rows[f].iloc[0]) if f in rows else "" for f in HARDWARE_FIELDS)


def _describe_hardware(hw: tuple) -> str:
    cpu, count, gpu = hw
    s = f"{cpu} ({count} CPUs)"
    if gpu not in ("None", "", "nan"):
        s += f", {gpu}"
    return s


def _index_cells(df, side: str, key_fields: Sequence[str], problems: list[str]) -> dict[tuple, Any]:
    """key -> rows of that cell (all statuses). Several runs of a key are replicates when
    they agree on every identity field (ignored ones too) and the dataset."""
    out: dict[tuple, Any] = {}
    missing_cols = [f for f in key_fields if f not in df.columns]
    df = df.copy()
    for f in missing_cols:
        df[f] = None
    df["_key"] = [identity_key(row, key_fields) for row in df[list(key_fields)].to_dict("records")]
    for key, rows in df.groupby("_key", sort=False):
        runs = rows["run_id"].unique()
        if len(runs) > 1:
            full = [f for f in (*CELL_IDENTITY, "dataset_hash") if f in rows.columns]
            differ = [f for f in full if rows.drop_duplicates("run_id")[f].map(canon).nunique() > 1]
            if differ:
                label = cell_label(rows.iloc[0].to_dict())
                problems.append(f"{side}: cell {label} appears in {len(runs)} runs ({', '.join(map(str, runs))}) "
                                f"that differ in {', '.join(differ)}; give runs of one configuration per side")
                continue
        out[key] = rows
    return out


def compare(
    baseline,
    candidate,
    *,
    max_wer_increase: float = DEFAULT_MAX_WER_INCREASE,
    max_slowdown: float = DEFAULT_MAX_SLOWDOWN,
    ignore: Iterable[str] = (),
    bootstrap: int = DEFAULT_BOOTSTRAP,
    max_word_timing_drop: float = DEFAULT_MAX_WORD_TIMING_DROP,
    allow_missing: bool = False,
    baseline_name: str | None = None,
    candidate_name: str | None = None,
    hardware: str = "auto",
    run_noise: float = noise.DEFAULT_RUN_NOISE,
    gate_loaded: bool = False,
) -> Comparison:
    """Compare two sets of results: DataFrames from `read_results`, or paths to read.

    `hardware`: "auto" (compare the recorded CPU/GPU), "same" (treat speed as comparable
    regardless), "different" (never gate on speed). `run_noise`: the run-to-run noise
    (log standard deviation of a run's total) assumed when neither side has several runs
    of a cell. `gate_loaded`: gate speed even where a side was measured on a loaded machine.

    Steps: match the cells of both sides (`match_cells`), then per matched cell the
    accuracy verdict (`accuracy_verdict`) and the speed verdict (`speed_verdict`);
    `comparison_markdown` renders the result."""
    ignore = tuple(ignore)
    _check_arguments(ignore, max_wer_increase, max_slowdown, hardware, run_noise)
    bdf, bname = _load_side(baseline, baseline_name)
    cdf, cname = _load_side(candidate, candidate_name)
    result = Comparison(bname, cname, max_wer_increase, max_slowdown, bootstrap, ignore, run_noise=run_noise,
                        gate_loaded=gate_loaded, allow_missing=allow_missing,
                        max_word_timing_drop=max_word_timing_drop)
    if bdf.empty:
        result.problems.append(f"baseline {bname} has no measurement rows")
    if cdf.empty:
        result.problems.append(f"candidate {cname} has no measurement rows")
    if result.problems:
        return result

    different_hw: set[tuple[str, str]] = set()
    for label, brows, crows in match_cells(bdf, cdf, result):
        cc = _cell_comparison(label, brows, crows, ignore, hardware, different_hw)
        result.cells.append(cc)
        bok = brows[brows["status"] == "ok"]
        cok = crows[crows["status"] == "ok"]
        if bok.empty:
            cc.notes.append("baseline cell has no successful rows: not gated")
            if cc.failures_candidate and not cc.failures_baseline:
                cc.regressions.append(f"{cc.failures_candidate} failed row(s)")
            continue
        if cok.empty:
            cc.regressions.append(f"candidate cell failed ({cc.failures_candidate} failure row(s)): "
                                  f"{crows['error'].dropna().iloc[-1] if crows['error'].notna().any() else 'no rows'}")
            continue
        common = _common_utterances(cc, bok, cok, result)
        if not common:
            continue
        bc = bok[bok["utterance_id"].isin(common)]
        ccr = cok[cok["utterance_id"].isin(common)]
        accuracy_verdict(cc, bc, ccr, max_wer_increase, bootstrap)
        word_timing_verdict(cc, bc, ccr, max_word_timing_drop, bootstrap)
        speed_verdict(cc, bc, ccr, max_slowdown, bootstrap, run_noise, gate_loaded)
        if cc.failures_candidate > cc.failures_baseline:
            cc.regressions.append(f"{cc.failures_candidate} failed row(s) (baseline {cc.failures_baseline})")

    if not result.cells and not result.problems and not result.mismatched:
        result.problems.append("no cell of the candidate matches a cell of the baseline")
    for b, c in sorted(different_hw):
        result.warnings.append(f"baseline ran on {b}, candidate on {c}: speed is not comparable; "
                               "gating on WER (and failures) only")
    if hardware == "different":
        result.warnings.append("hardware treated as different: gating on WER (and failures) only")
    return result


def _check_arguments(ignore: tuple[str, ...], max_wer_increase: float, max_slowdown: float, hardware: str,
                     run_noise: float) -> None:
    unknown = sorted(set(ignore) - set(CELL_IDENTITY))
    if unknown:
        raise WhisperbenchError(f"--ignore: unknown identity field(s) {', '.join(unknown)}; "
                                f"valid: {', '.join(CELL_IDENTITY)}")
    if max_wer_increase < 0:
        raise WhisperbenchError("--max-wer-increase must be >= 0 (absolute WER points)")
    if max_slowdown < 1:
        raise WhisperbenchError("--max-slowdown must be >= 1 (a latency ratio, e.g. 1.2 for 20% slower)")
    if hardware not in ("auto", "same", "different"):
        raise WhisperbenchError("hardware must be auto, same or different")
    if not 0 <= run_noise < 1:
        raise WhisperbenchError("--run-noise must be in [0, 1) (a log standard deviation, e.g. 0.05 for 5%)")


def _load_side(x, name: str | None):
    """(rows, name) of one side: a DataFrame as given, or paths read through the store."""
    from whisperbench.bench.store import read_results

    if isinstance(x, (str, Path)) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], (str, Path))):
        return read_results(x), name or (str(x) if not isinstance(x, (list, tuple)) else ", ".join(map(str, x)))
    return x, name or "<DataFrame>"


def match_cells(bdf, cdf, result: Comparison) -> list[tuple[str, Any, Any]]:
    """(label, baseline rows, candidate rows) of each cell both sides measured, by identity
    (`records.CELL_IDENTITY` less `result.ignore`) over the same dataset; records the
    baseline cells missing from the candidate, those whose dataset differs, and the
    candidate's new cells in `result`."""
    key_fields = [f for f in CELL_IDENTITY if f not in result.ignore]
    bcells = _index_cells(bdf, "baseline", key_fields, result.problems)
    ccells = _index_cells(cdf, "candidate", key_fields, result.problems)
    matched = []
    for key, brows in bcells.items():
        bident = brows.iloc[0].to_dict()
        label = cell_label(bident)
        crows = ccells.get(key)
        if crows is None:
            result.missing.append(label)
            continue
        cident = crows.iloc[0].to_dict()
        if canon(bident.get("dataset_hash")) != canon(cident.get("dataset_hash")):
            result.mismatched.append(
                f"{label}: dataset differs (baseline {bident.get('dataset_hash')}, candidate {cident.get('dataset_hash')}; "
                f"{brows['utterance_id'].nunique()} vs {crows['utterance_id'].nunique()} utterances)")
            continue
        matched.append((label, brows, crows))
    for key, crows in ccells.items():
        if key not in bcells:
            result.new.append(cell_label(crows.iloc[0].to_dict()))
    return matched


def _cell_comparison(label: str, brows, crows, ignore: tuple[str, ...], hardware: str,
                     different_hw: set[tuple[str, str]]) -> CellComparison:
    """A matched cell before its verdicts: counts, whether its speed is comparable (same
    hardware), and notes on the ignored fields and runtime versions that differ."""
    bident, cident = brows.iloc[0].to_dict(), crows.iloc[0].to_dict()
    bok = brows[brows["status"] == "ok"]
    cok = crows[crows["status"] == "ok"]
    hw_b, hw_c = _hardware(brows), _hardware(crows)
    comparable = hardware == "same" or (hardware == "auto" and hw_b == hw_c)
    if hardware == "auto" and hw_b != hw_c:
        different_hw.add((_describe_hardware(hw_b), _describe_hardware(hw_c)))
    cc = CellComparison(
        label=label, identity={f: bident.get(f) for f in CELL_IDENTITY}, baseline_cell=str(bident.get("cell_id")),
        candidate_cell=str(cident.get("cell_id")), n_utterances=0,
        baseline_utterances=int(bok["utterance_id"].nunique()), candidate_utterances=int(cok["utterance_id"].nunique()),
        wer_baseline=None, wer_candidate=None, wer_delta_points=Interval(None, None, None),
        latency_ratio=Interval(None, None, None), rtfx_baseline=None, rtfx_candidate=None,
        failures_baseline=int((brows["status"] == "failed").sum()),
        failures_candidate=int((crows["status"] == "failed").sum()), speed_comparable=comparable,
    )
    for f in ignore:
        if canon(bident.get(f)) != canon(cident.get(f)):
            cc.notes.append(_difference(f, bident.get(f), cident.get(f)))
    if canon(bident.get("runtime_version")) != canon(cident.get("runtime_version")):
        cc.notes.append(f"runtime {bident.get('runtime_version')} → {cident.get('runtime_version')}")
    return cc


def _common_utterances(cc: CellComparison, bok, cok, result: Comparison) -> set:
    """The utterances both sides measured; a candidate that measured too few is incomplete."""
    common = set(bok["utterance_id"]) & set(cok["utterance_id"])
    cc.n_utterances = len(common)
    if len(common) < max(cc.baseline_utterances, cc.candidate_utterances):
        cc.notes.append(f"compared on {len(common)} common utterances "
                        f"(baseline {cc.baseline_utterances}, candidate {cc.candidate_utterances})")
    if len(common) < MIN_COVERAGE * cc.baseline_utterances:
        result.incomplete.append(f"{cc.label}: the candidate measured {len(common)} of the baseline's "
                                 f"{cc.baseline_utterances} utterances")
    if not common:
        result.problems.append(f"{cc.label}: no utterance measured on both sides")
    return common


def accuracy_verdict(cc: CellComparison, base, cand, max_wer_increase: float, bootstrap: int) -> None:
    """WER of each side and its change; a regression when the increase exceeds
    `max_wer_increase` points and its interval excludes no change."""
    cc.wer_baseline, cc.wer_candidate, cc.wer_delta_points = wer_delta(base, cand, bootstrap)
    d = cc.wer_delta_points
    if d.value is not None and d.value > max_wer_increase and (d.low is None or d.low > 0):
        cc.regressions.append(f"WER +{d.value:.2f} points > {max_wer_increase:g} "
                              f"({100 * cc.wer_baseline:.2f}% → {100 * cc.wer_candidate:.2f}%)")


def speed_verdict(cc: CellComparison, base, cand, max_slowdown: float, bootstrap: int, run_noise: float,
                  gate_loaded: bool) -> None:
    """Latency ratio with its interval, RTFx of each side; a regression when speed is
    comparable and `speed_regressed`, a note when the data cannot resolve the gate."""
    _speed(cc, base, cand, latency_ratio(base, cand, bootstrap), run_noise, gate_loaded)
    if cc.latency_ratio.value:
        audio = base.groupby("utterance_id")["audio_seconds"].first().sum()
        tb = base.groupby("utterance_id")["decode_seconds"].median().sum()
        tc = cand.groupby("utterance_id")["decode_seconds"].median().sum()
        cc.rtfx_baseline = float(audio / tb) if tb > 0 else None
        cc.rtfx_candidate = float(audio / tc) if tc > 0 else None
    r = cc.latency_ratio
    if cc.speed_comparable and speed_regressed(r, max_slowdown):
        cc.regressions.append(f"{r.value:.2f}× slower > {max_slowdown:g}×")
    elif cc.speed_comparable and cc.resolution and cc.resolution > max_slowdown:
        cc.speed_notes.append(f"these data resolve only slowdowns ≥ {cc.resolution:.2f}× "
                              f"({cc.speed_basis}): a {max_slowdown:g}× gate cannot be honoured here")


# ---------------------------------------------------------------------------------------
# Markdown


def comparison_markdown(c: Comparison) -> str:
    code = c.exit_code
    verdict = {0: "✅ no regression", 1: f"❌ regression in {len(c.regressions)} cell(s)",
               2: "⚠️ unusable input"}[code]
    ungated = [cc for cc in c.cells if any(n.startswith("speed not gated") for n in cc.speed_notes)]
    if ungated and code != 2:
        verdict += f" (speed not gated in {len(ungated)} cell(s): measured on a loaded machine)"
    lines = [f"## whisperbench compare: {verdict}", ""]
    lines.append(f"- Baseline: `{c.baseline}`")
    lines.append(f"- Candidate: `{c.candidate}`")
    lines.append(f"- Gates: WER increase > {c.max_wer_increase:g} points, slowdown > {c.max_slowdown:g}× "
                 f"(each only when its 95% interval excludes no change)")
    lines.append(f"- Speed intervals allow for run-to-run noise: estimated from several runs of a cell on a side "
                 f"(`baseline save NAME r1 r2 r3`), else assumed {100 * c.run_noise:.0f}% per run (--run-noise); "
                 "a cell's resolution is the smallest slowdown it can tell from noise. Timings from a loaded "
                 "machine are " + ("gated anyway (--gate-loaded)" if c.gate_loaded else "not gated"))
    if any(cc.word_within_delta_points is not None for cc in c.cells):
        lines.append(f"- Word timestamps: gated when the share of word boundaries within 250 ms of the reference "
                     f"drops by more than {c.max_word_timing_drop:g} points (and its 95% interval excludes no change)")
    if c.ignore:
        lines.append(f"- Matched ignoring: {', '.join(c.ignore)}")
    lines.append(f"- Intervals: 95% paired bootstrap ({c.bootstrap} resamples) over utterances for WER; "
                 "for latency, the wider of that over utterances and repeats and the run-to-run interval")
    lines.append("")
    for w in c.warnings:
        lines.append(f"> ⚠️ {w}")
        lines.append("")
    for title, items in (("Unusable input", c.problems), ("Mismatched datasets", c.mismatched)):
        if items:
            lines.append(f"### {title}")
            lines += [f"- {x}" for x in items]
            lines.append("")
    if c.missing:
        lines.append("### Missing cells (in the baseline, not in the candidate)" +
                     (" — allowed" if c.allow_missing else ""))
        lines += [f"- {x}" for x in c.missing]
        lines.append("")
    if c.incomplete:
        lines.append(f"### Incomplete cells (the candidate measured under {MIN_COVERAGE:.0%} of the baseline's "
                     "utterances: an interrupted run?)" + (" — allowed" if c.allow_missing else ""))
        lines += [f"- {x}" for x in c.incomplete]
        lines.append("")
    if c.cells:
        lines.append("| cell | utts | runs | WER base | WER cand | ΔWER points [95% CI] | latency ratio [95% CI] | "
                     "resolution | RTFx base → cand | result |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for cc in c.cells:
            wb = f"{100 * cc.wer_baseline:.2f}%" if cc.wer_baseline is not None else "n/a"
            wc = f"{100 * cc.wer_candidate:.2f}%" if cc.wer_candidate is not None else "n/a"
            ratio = cc.latency_ratio.fmt(".2f", "×")
            li = cc.latency_ratio
            if li.low is not None and li.high is not None and li.low <= 1 <= li.high:
                ratio += " not distinguishable"
            if not cc.speed_comparable and cc.latency_ratio.value is not None:
                ratio += " (not comparable)"
            res_s = f"{cc.resolution:.2f}×" if cc.resolution else "n/a"
            rtfx = (f"{cc.rtfx_baseline:.1f} → {cc.rtfx_candidate:.1f}"
                    if cc.rtfx_baseline is not None and cc.rtfx_candidate is not None else "n/a")
            res = "❌ " + "; ".join(cc.regressions) if cc.regressions else "✅ ok"
            if cc.speed_notes:
                res += " ⚠️ " + "; ".join(cc.speed_notes)
            notes = list(cc.notes)
            if cc.word_within_delta_points is not None:
                notes.append(f"words within 250 ms {100 * cc.word_within_baseline:.1f}% → "
                             f"{100 * cc.word_within_candidate:.1f}%, "
                             f"{cc.word_within_delta_points.fmt('.2f', ' points', signed=True)}")
            if notes:
                res += " (" + "; ".join(notes) + ")"
            lines.append(f"| {_md(cc.label)} | {cc.n_utterances} | {cc.runs_baseline}+{cc.runs_candidate} | {wb} | {wc} | "
                         f"{cc.wer_delta_points.fmt('.2f', signed=True)} | {ratio} | {res_s} | {rtfx} | {_md(res)} |")
        lines.append("")
    if c.new:
        lines.append("### New cells (only in the candidate; not gated)")
        lines += [f"- {x}" for x in c.new]
        lines.append("")
    return "\n".join(lines)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
