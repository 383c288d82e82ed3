"""Pick a deployment configuration from stored results.

A configuration (see `whisperbench.bench.report`) is eligible when, on the chosen workload
(one algorithm: short-form by default), it
- ran on the requested device (`cuda` matches `cuda:0`, ...),
- has no failed rows there,
- has corpus WER <= max_wer (pooled over the workload's datasets),
- peaks at or below max_memory_mb: peak RSS, and GPU peak where recorded.

Only the datasets every configuration of that device measured (same dataset name and
content hash) are used, so all configurations are judged on the same utterances. The
fastest eligible configuration wins: the lowest p50 (or p90) of per-utterance latency
(median over repeats); ties go to the higher RTFx.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass, field
from typing import Any

from whisperbench.bench import noise
from whisperbench.errors import WhisperbenchError

LATENCY = ("p50", "p90")


@dataclass
class Candidate:
    configuration: str
    row: dict[str, Any]  # identity of its first cell (backend, model, options, ...)
    wer: float | None
    latency_s: float | None
    latency_p50_s: float | None
    latency_p90_s: float | None
    rtfx: float | None
    peak_rss_mb: float | None
    gpu_peak_mb: float | None
    n_utterances: int
    n_failed: int
    datasets: list[str]
    reasons: list[str] = field(default_factory=list)  # why it is not eligible
    timing_cv: float | None = None  # the largest repeat spread of its cells
    timing_marks: list[str] = field(default_factory=list)  # loaded machine / wide spread (bench.noise)

    @property
    def eligible(self) -> bool:
        return not self.reasons


@dataclass
class Recommendation:
    algorithm: str
    latency: str
    max_wer: float
    device: str | None
    max_memory_mb: float | None
    datasets: list[str]
    ranked: list[Candidate]  # eligible, fastest first
    excluded: list[Candidate]
    notes: list[str] = field(default_factory=list)

    @property
    def choice(self) -> Candidate | None:
        return self.ranked[0] if self.ranked else None

    @property
    def runner_up(self) -> Candidate | None:
        return self.ranked[1] if len(self.ranked) > 1 else None

    def command(self) -> str | None:
        return reproduce_command(self.choice.row, self.datasets_for(self.choice)) if self.choice else None

    def datasets_for(self, c: Candidate) -> list[dict[str, Any]]:
        return c.row["_datasets"]

    def text(self) -> str:
        return recommendation_text(self)


def _wer(cells) -> float | None:
    c = cells[cells["wer"].notna() & (cells["ref_words"] > 0)]
    words = c["ref_words"].sum()
    return float((c["wer"] * c["ref_words"]).sum() / words) if words else None


def recommend(df, *, max_wer: float, device: str | None = None, max_memory_mb: float | None = None,
              latency: str = "p50", algorithm: str = "short") -> Recommendation:
    """`max_wer` is a fraction (0.05 for 5%)."""
    import numpy as np

    from whisperbench.bench.aggregate import cell_summary
    from whisperbench.bench.store import utterance_latency

    if latency not in LATENCY:
        raise WhisperbenchError(f"--latency must be one of {', '.join(LATENCY)}")
    if not (max_wer >= 0):
        raise WhisperbenchError("--max-wer must be >= 0")
    if df.empty:
        raise WhisperbenchError("no measurement rows")
    cells = cell_summary(df)
    cells = cells[cells["algorithm"] == algorithm]
    if cells.empty:
        have = ", ".join(sorted(set(cell_summary(df)["algorithm"])))
        raise WhisperbenchError(f"no {algorithm} cells in the results (algorithms measured: {have})")
    if device:
        dev = cells["device"].astype(str)
        cells = cells[(dev == device) | dev.str.startswith(device + ":")]
        if cells.empty:
            raise WhisperbenchError(f"no {algorithm} cells on device {device!r}")
    notes = []
    # The datasets every configuration measured.
    sets = cells.groupby("config_key")[["dataset", "dataset_hash"]].apply(
        lambda c: frozenset(zip(c["dataset"], c["dataset_hash"])))
    common = frozenset.intersection(*sets.tolist())
    everything = frozenset.union(*sets.tolist())
    if not common:
        raise WhisperbenchError(
            f"the configurations share no {algorithm} dataset (same name and content), so none can be compared")
    if everything - common:
        notes.append("only datasets every configuration measured are used; left out: "
                     + ", ".join(sorted(f"{d} ({h})" for d, h in everything - common)))
    cells = cells[[(d, h) in common for d, h in zip(cells["dataset"], cells["dataset_hash"])]]
    ok = df[df["status"] == "ok"]
    lat = utterance_latency(ok) if len(ok) else None
    candidates = []
    for key, c in cells.groupby("config_key", sort=False):
        first = c.iloc[0]
        ident = df[(df["run_id"] == first["run_id"]) & (df["cell_id"] == first["cell_id"])].iloc[0].to_dict()
        ident["_datasets"] = [
            df[(df["run_id"] == r["run_id"]) & (df["cell_id"] == r["cell_id"])].iloc[0][
                ["dataset", "dataset_kind", "dataset_path"]].to_dict() for _, r in c.sort_values("dataset").iterrows()
        ]
        med = np.array([])
        if lat is not None:
            med = lat.merge(c[["run_id", "cell_id"]], on=["run_id", "cell_id"])["latency_median_s"].to_numpy(float)
        p50 = float(np.percentile(med, 50)) if len(med) else None
        p90 = float(np.percentile(med, 90)) if len(med) else None
        audio = c["audio_seconds"].sum() if "audio_seconds" in c else 0
        dec = c["decode_seconds"].sum() if "decode_seconds" in c else 0
        gpu = c["gpu_peak_mb"].dropna() if "gpu_peak_mb" in c else []
        cand = Candidate(
            configuration=str(first["configuration"]), row=ident, wer=_wer(c),
            latency_s=p50 if latency == "p50" else p90, latency_p50_s=p50, latency_p90_s=p90,
            rtfx=float(audio / dec) if dec and dec > 0 else None,
            peak_rss_mb=float(c["peak_rss_mb"].max()) if "peak_rss_mb" in c and c["peak_rss_mb"].notna().any() else None,
            gpu_peak_mb=float(gpu.max()) if len(gpu) else None,
            n_utterances=int(c["n_utterances"].sum()), n_failed=int(c["n_failed"].sum()),
            datasets=sorted(c["dataset"]),
        )
        cvs = c["timing_cv"].dropna() if "timing_cv" in c else []
        cand.timing_cv = float(cvs.max()) if len(cvs) else None
        cand.timing_marks = noise.judge_rows(ok.merge(c[["run_id", "cell_id"]], on=["run_id", "cell_id"]),
                                             cv=cand.timing_cv).marks()
        if cand.n_failed:
            cand.reasons.append(f"{cand.n_failed} failed row(s)")
        if cand.wer is None:
            cand.reasons.append("no WER (no successful rows with reference words)")
        elif cand.wer > max_wer + 1e-12:
            cand.reasons.append(f"WER {100 * cand.wer:.2f}% > {100 * max_wer:g}%")
        if cand.latency_s is None:
            cand.reasons.append("no latency measured")
        if max_memory_mb is not None:
            if cand.peak_rss_mb is None:
                cand.reasons.append("no memory measured")
            elif cand.peak_rss_mb > max_memory_mb:
                cand.reasons.append(f"peak RSS {cand.peak_rss_mb:.0f} MB > {max_memory_mb:g} MB")
            if cand.gpu_peak_mb is not None and cand.gpu_peak_mb > max_memory_mb:
                cand.reasons.append(f"GPU peak {cand.gpu_peak_mb:.0f} MB > {max_memory_mb:g} MB")
        candidates.append(cand)
    eligible = [c for c in candidates if c.eligible]
    eligible.sort(key=lambda c: (c.latency_s, -(c.rtfx or 0.0), c.configuration))
    excluded = sorted((c for c in candidates if not c.eligible), key=lambda c: (c.latency_s or math.inf, c.configuration))
    return Recommendation(algorithm=algorithm, latency=latency, max_wer=max_wer, device=device,
                          max_memory_mb=max_memory_mb, datasets=sorted(d for d, _ in common), ranked=eligible,
                          excluded=excluded, notes=notes)


# ---------------------------------------------------------------------------------------
# the reproducing command line

_FLAGS = {
    "language": "--language", "task": "--task", "beam_size": "--beam-size", "best_of": "--best-of",
    "max_new_tokens": "--max-new-tokens", "chunk_length_s": "--chunk-length", "batch_size": "--batch-size",
    "compression_ratio_threshold": "--compression-ratio-threshold", "logprob_threshold": "--logprob-threshold",
    "no_speech_threshold": "--no-speech-threshold", "initial_prompt": "--initial-prompt",
}
_BOOL_FLAGS = {"condition_on_previous_text": "condition-on-previous-text", "timestamps": "timestamps",
               "word_timestamps": "word-timestamps"}


def _option_value(v: Any) -> str:
    """A -O value that `parse_key_values` (JSON when it parses, else the text) reads back as v."""
    if isinstance(v, str):
        try:
            json.loads(v)
        except (json.JSONDecodeError, ValueError):
            return v
        return json.dumps(v)
    return json.dumps(v)


def _dataset_arg(d: dict[str, Any]) -> str:
    """The quick form's --dataset value: a default-suite name when it is the same data, else the path."""
    import tomllib
    from pathlib import Path

    from whisperbench.bench.suite import default_suite_path, expand_path

    try:
        default = tomllib.loads(default_suite_path().read_text(encoding="utf-8"))
        for dd in default.get("datasets", []):
            if dd["name"] == d["dataset"] and dd["kind"] == d.get("dataset_kind"):
                if Path(expand_path(dd["path"], default_suite_path().parent)).resolve() == Path(str(d["dataset_path"])).resolve():
                    return str(d["dataset"])
    except (OSError, KeyError, ValueError):
        pass
    if d.get("dataset_kind") == "hf" and not Path(str(d["dataset_path"])).exists():
        return f"hf:{d['dataset_path']}"
    return str(d["dataset_path"])


def reproduce_command(row: dict[str, Any], datasets: list[dict[str, Any]]) -> str:
    """`whisperbench bench --backend ... --model ... --dataset ...` for one configuration."""
    from whisperbench.options import DecodeOptions

    args = ["whisperbench", "bench", "--backend", str(row["backend"]), "--model", str(row["model"])]
    args += ["--device", str(row["device"]), "--compute-type", str(row["compute_type"])]
    if row.get("threads"):
        args += ["--threads", str(int(row["threads"]))]
    for k, v in sorted((row.get("load_extra") or {}).items()):
        args += ["-O", f"{k}={_option_value(v)}"]
    for d in datasets:
        args += ["--dataset", _dataset_arg(d)]
    opts = dict(row.get("options") or {})
    defaults = DecodeOptions().to_dict()
    if opts.get("algorithm", "short") != defaults["algorithm"]:
        args += ["--algorithm", str(opts["algorithm"])]
    for k, v in opts.items():
        if k == "algorithm" or v == defaults.get(k):
            continue
        if k in _FLAGS:
            args += [_FLAGS[k], "none" if v is None else str(v)]
        elif k in _BOOL_FLAGS:
            args.append(f"--{'' if v else 'no-'}{_BOOL_FLAGS[k]}")
        elif k == "temperatures":
            args += ["--temperatures", ",".join(f"{float(t):g}" for t in v)]
        # any other option has no quick-form flag; the suite file is the way to set it
    return shlex.join(args)


# ---------------------------------------------------------------------------------------
# explanation


def _describe(c: Candidate, latency: str) -> str:
    parts = [f"{latency} latency {c.latency_s:.3f} s" if c.latency_s is not None else f"{latency} latency n/a"]
    if c.rtfx is not None:
        parts.append(f"RTFx {c.rtfx:.1f}")
    parts.append(f"WER {100 * c.wer:.2f}%" if c.wer is not None else "WER n/a")
    if c.peak_rss_mb is not None:
        parts.append(f"peak RSS {c.peak_rss_mb:.0f} MB")
    if c.gpu_peak_mb is not None:
        parts.append(f"GPU peak {c.gpu_peak_mb:.0f} MB")
    if c.timing_marks:
        parts.append("⚠️ timing: " + "; ".join(c.timing_marks))
    return ", ".join(parts)


def recommendation_text(r: Recommendation) -> str:
    cons = [f"WER <= {100 * r.max_wer:g}%"]
    if r.device:
        cons.append(f"device {r.device}")
    if r.max_memory_mb is not None:
        cons.append(f"memory <= {r.max_memory_mb:g} MB")
    lines = [f"Workload: {r.algorithm} on {', '.join(r.datasets)}; constraints: {', '.join(cons)}; "
             f"fastest by {r.latency} latency."]
    lines += [f"Note: {n}" for n in r.notes]
    c = r.choice
    if c is None:
        lines.append("No configuration meets the constraints.")
        for x in r.excluded:
            lines.append(f"  - {x.configuration}: {'; '.join(x.reasons)} ({_describe(x, r.latency)})")
        return "\n".join(lines)
    lines.append("")
    lines.append(f"Recommended: {c.configuration}")
    lines.append(f"  {_describe(c, r.latency)}")
    ru = r.runner_up
    if ru is not None:
        ratio = (noise.ratio_interval([c.latency_s], [ru.latency_s], spread_base=c.timing_cv or 0.0,
                                      spread_cand=ru.timing_cv or 0.0) if c.latency_s and ru.latency_s else None)
        if ratio is None:
            why = f"n/a × the recommended one's {r.latency} latency"
        else:
            why = f"{ratio.fmt()} the recommended one's {r.latency} latency"
            if not ratio.distinguishable:
                why += " (the order of the two is not a finding on these timings)"
        if ru.wer is not None and c.wer is not None:
            d = 100 * (ru.wer - c.wer)
            why += f", WER {'+' if d >= 0 else ''}{d:.2f} points"
        lines.append(f"  It is the fastest of {len(r.ranked)} configuration(s) meeting the constraints.")
        lines.append(f"Runner-up: {ru.configuration}")
        lines.append(f"  {_describe(ru, r.latency)} ({why})")
    else:
        lines.append("  It is the only configuration meeting the constraints.")
    if r.excluded:
        lines.append("Excluded:")
        for x in r.excluded:
            lines.append(f"  - {x.configuration}: {'; '.join(x.reasons)}")
    lines.append("")
    lines.append("Reproduce:")
    lines.append(f"  {r.command()}")
    return "\n".join(lines)
