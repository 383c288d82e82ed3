"""The numbers of a report, pooled per configuration from stored results (rendering them
as Markdown and HTML is `whisperbench.bench.report`).

Every number comes from the stored rows through the store API: `summarize` (one row per
run and cell) and `utterance_latency` (per-utterance latency over repeats); this module
only pools those per configuration:

- a configuration is `records.CONFIGURATION_FIELDS` (backend, model, model format,
  quantization, device, threads, backend options, decoding variant: a cell's identity less
  its dataset, algorithm and options). Its runs are pooled into one row when they measured
  different cells (e.g. a sequential run and a chunked run); runs that measured the same
  cell are kept apart (`run_groups`), one row per group of runs, and `repeated_runs_notes`
  says so;
- short-form / sequential / chunked WER: corpus WER pooled over the configuration's cells
  of that algorithm (errors / reference words; each cell's `wer * ref_words`), and per
  algorithm its RTFx, boundary errors (long-form) and timing marks, for the plots;
- RTFx: audio seconds / decode seconds summed over all its cells (decode seconds: per
  utterance, the median over repeats, as `summarize` defines them);
- relative latency: its decode seconds / the reference configuration's, over the cells
  (dataset, algorithm, decoding options) both measured -- 0.5× is twice as fast;
- p50 / p90 latency: percentiles over its short-form utterances (all utterances when it
  has no short-form cell) of each utterance's median latency over repeats;
- load time: median over its cells; peak memory: the largest peak RSS (and GPU peak);
- timing: whether the configuration's timings are noise (`whisperbench.bench.noise`):
  measured on a loaded machine (other processes took CPU time while it was timed), a wide
  spread between repeats (the largest coefficient of variation of its cells' per-repeat
  totals), or load not recorded (older results). Relative latency carries a 95 % interval
  that allows for run-to-run drift (`noise.ratio_interval`; the configurations were timed at
  different times), and says "not distinguishable" when it includes 1.
"""

from __future__ import annotations

import json
from typing import Any

from whisperbench.bench import noise
from whisperbench.bench.records import CELL_IDENTITY, CONFIGURATION_FIELDS, canon, identity_key
from whisperbench.errors import WhisperbenchError

ALGORITHM_COLUMNS = {"short": "short_wer", "sequential": "sequential_wer", "chunked": "chunked_wer"}


def cell_summary(df):
    """`summarize(df)` with its identity fields canonical (`records.canon`) and a
    configuration key/label per row: a configuration's runs share one key unless they
    measured the same cell (`run_groups`)."""
    from whisperbench.bench.store import summarize

    s = summarize(df)
    if s.empty:
        return s
    s["load_extra"] = s["load_extra"].map(canon)
    s["variant"] = s["variant"].map(lambda v: canon(v) or "default")
    base = [tuple(canon(v) for v in vals) for vals in s[list(CONFIGURATION_FIELDS)].itertuples(index=False, name=None)]
    cell = [identity_key(r) for r in s[list(CELL_IDENTITY)].to_dict("records")]
    runs_of: dict[tuple, dict[str, set]] = {}
    for key, run, c in zip(base, s["run_id"], cell):
        runs_of.setdefault(key, {}).setdefault(run, set()).add(c)
    group_of: dict[tuple[tuple, str], list[str]] = {}
    for key, cells in runs_of.items():
        groups = run_groups(cells)
        for runs in groups:
            for run in runs:
                group_of[(key, run)] = runs if len(groups) > 1 else []
    s["config_key"] = [k + (",".join(group_of[(k, r)]),) if group_of[(k, r)] else k for k, r in zip(base, s["run_id"])]
    s["config_runs"] = [",".join(group_of[(k, r)]) for k, r in zip(base, s["run_id"])]
    s["configuration"] = [config_label(row, runs=row["config_runs"]) for row in s.to_dict("records")]
    return s


def run_groups(cells_by_run: dict[str, set]) -> list[list[str]]:
    """The runs of one configuration (in the given order) put first-fit into groups in
    which no two runs measured the same cell: runs that measured different cells (a
    sequential run and a chunked run) share a group, a run that measured a cell again
    starts or joins another. A run lands in group k only if it shares a cell with a run of
    every earlier group."""
    groups: list[tuple[set, list[str]]] = []
    for run, cells in cells_by_run.items():
        for seen, runs in groups:
            if not seen & cells:
                seen |= cells
                runs.append(run)
                break
        else:
            groups.append((set(cells), [run]))
    return [runs for _, runs in groups]


def repeated_runs_notes(cells) -> list[str]:
    """One line per configuration whose runs measured the same cells and are kept apart."""
    out = []
    split = cells[cells["config_runs"] != ""]
    for base, g in split.groupby(split["configuration"].str.replace(r" \(runs? [^)]*\)$", "", regex=True), sort=False):
        rows = g["config_runs"].nunique()
        runs = g.groupby(["dataset", "algorithm"])["run_id"].unique()
        repeated = runs[runs.map(len) > 1]
        named = ", ".join(f"{d}/{a}" for d, a in repeated.index)
        ids = sorted({str(r)[:8] for rs in repeated for r in rs})
        out.append(f"{base}: {len(ids)} runs ({', '.join(ids)}) measured the same cells ({named}); they are kept apart "
                   f"as {rows} rows (one per group of runs that measured different cells) rather than pooled")
    return out


def config_label(row, runs: str = "") -> str:
    parts = [str(row["backend"]), str(row["model"]), str(row["quantization"]), str(row["device"])]
    if str(row.get("threads")) not in ("0", "", "None"):
        parts.append(f"{row['threads']}t")
    if row.get("load_extra"):
        extra = json.loads(row["load_extra"]) if isinstance(row["load_extra"], str) else row["load_extra"]
        parts.append(",".join(f"{k}={_short(v)}" for k, v in sorted(extra.items())))
    if canon(row.get("served")) == "True":  # behind whisperbench serve (bench.served)
        parts.append("served")
    if row.get("variant") not in (None, "", "default"):
        parts.append(f"[{row['variant']}]")
    if runs:
        ids = [r[:8] for r in runs.split(",")]
        parts.append(f"(run{'s' if len(ids) > 1 else ''} {', '.join(ids)})")
    return " ".join(parts)


def format_label(row) -> str:
    """The format the runtime read, and the one it was converted from: `openai (from ctranslate2)`."""
    read, source = canon(row.get("model_format")) or "?", canon(row.get("source_format"))
    return f"{read} (from {source})" if source and source != read else read


def quantization_label(row) -> str:
    """The quantization that ran, and the stored weights' when they differ: `int8 (float16 weights)`."""
    ran, weights = canon(row.get("quantization")) or "?", canon(row.get("weights_quantization"))
    return f"{ran} ({weights} weights)" if weights and weights != ran else ran


def _short(value: Any, width: int = 24) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _pooled_wer(cells) -> float | None:
    return _pooled(cells, "wer")


def _pooled(cells, rate: str) -> float | None:
    """A per-reference-word rate of the cells (wer, ins_rate), pooled over their words."""
    if rate not in cells:
        return None
    c = cells[cells[rate].notna() & (cells["ref_words"] > 0)]
    words = c["ref_words"].sum()
    return float((c[rate] * c["ref_words"]).sum() / words) if words else None


def _rows_of(ok, positions: dict[tuple, Any], cells):
    """The rows of `ok` that belong to `cells` (by run and cell id), via `positions`
    ({(run_id, cell_id): row positions}, made once: a merge per group is slow on big files)."""
    import numpy as np

    hit = [positions[k] for k in zip(cells["run_id"], cells["cell_id"]) if k in positions]
    return ok.iloc[np.concatenate(hit)] if hit else ok.iloc[0:0]


def _algorithm_numbers(alg: str, cells, rows_of) -> dict[str, Any]:
    """`{alg}_rtfx`, `{alg}_boundary_errors` (per pass, summed over the cells; None where not
    reported) and `{alg}_timing` (noise marks, "" when clean) of one algorithm's cells."""
    out: dict[str, Any] = {f"{alg}_rtfx": None, f"{alg}_boundary_errors": None, f"{alg}_timing": ""}
    measured = cells[cells["decode_seconds"].notna()] if "decode_seconds" in cells else cells.iloc[0:0]
    if measured.empty:
        return out
    dec = measured["decode_seconds"].sum()
    out[f"{alg}_rtfx"] = float(measured["audio_seconds"].sum() / dec) if dec > 0 else None
    if "boundary_errors" in measured and measured["boundary_errors"].notna().any():
        out[f"{alg}_boundary_errors"] = float(measured["boundary_errors"].sum())
    cvs = measured["timing_cv"].dropna() if "timing_cv" in measured else []
    verdict = noise.judge_rows(rows_of(measured), cv=float(cvs.max()) if len(cvs) else None)
    out[f"{alg}_timing"] = "; ".join(verdict.marks())
    return out


def _cell_match_key(row) -> tuple:
    return (row["dataset"], row["dataset_hash"], row["algorithm"], row["options_hash"])


def configuration_table(df, reference: str | int | None = None, cells=None):
    """One row per configuration with the report's numbers (WER as fractions, times in
    seconds). `reference` picks the relative-latency reference row (see `pick_reference`);
    the default is the first row. Returns (table, reference_label)."""
    import numpy as np
    import pandas as pd

    from whisperbench.bench.store import utterance_latency

    cells = cell_summary(df) if cells is None else cells
    if cells.empty:
        raise WhisperbenchError("no measurement rows to report on")
    ok = df[df["status"] == "ok"]
    lat = utterance_latency(ok) if len(ok) else pd.DataFrame(columns=["run_id", "cell_id", "latency_median_s"])
    positions = ok.groupby(["run_id", "cell_id"], sort=False).indices if len(ok) else {}
    rows_of = lambda cells_: _rows_of(ok, positions, cells_)  # noqa: E731
    rows = []
    for key, c in cells.groupby("config_key", sort=False):
        first = c.iloc[0]
        row: dict[str, Any] = {"configuration": first["configuration"], "config_key": key}
        for f in CONFIGURATION_FIELDS + ("source_format", "weights_quantization"):
            row[f] = first[f]
        row["run_id"] = ",".join(c["run_id"].drop_duplicates().astype(str))  # the runs pooled in this row
        row["runs"] = c["run_id"].nunique()
        for alg, col in ALGORITHM_COLUMNS.items():
            a = c[c["algorithm"] == alg]
            row[col] = _pooled_wer(a)
            row.update(_algorithm_numbers(alg, a, rows_of))
        row["wer"] = _pooled_wer(c)
        measured = c[c["decode_seconds"].notna()] if "decode_seconds" in c else c.iloc[0:0]
        audio = measured["audio_seconds"].sum() if len(measured) else 0.0
        dec = measured["decode_seconds"].sum() if len(measured) else 0.0
        row["audio_seconds"] = float(audio)
        row["decode_seconds"] = float(dec)
        row["rtfx"] = float(audio / dec) if dec > 0 else None
        vad = measured["vad_seconds"].dropna() if "vad_seconds" in measured else []
        row["vad_seconds"] = float(vad.sum()) if len(vad) else None  # inside decode_seconds too
        short = c[c["algorithm"] == "short"]
        pick = short if len(short) else c
        lc = lat.merge(pick[["run_id", "cell_id"]], on=["run_id", "cell_id"])
        med = lc["latency_median_s"].to_numpy(float)
        row["latency_scope"] = "short" if len(short) else "all"
        row["latency_p50_s"] = float(np.percentile(med, 50)) if len(med) else None
        row["latency_p90_s"] = float(np.percentile(med, 90)) if len(med) else None
        row["load_seconds"] = float(measured["load_seconds"].median()) if len(measured) else None
        row["peak_rss_mb"] = float(measured["peak_rss_mb"].max()) if len(measured) else None
        gpu = measured["gpu_peak_mb"].dropna() if "gpu_peak_mb" in measured else []
        row["gpu_peak_mb"] = float(gpu.max()) if len(gpu) else None
        row["n_cells"] = len(c)
        row["n_utterances"] = int(c["n_utterances"].sum())
        row["n_failed"] = int(c["n_failed"].sum())
        row["empty_references"] = int(c["empty_references"].sum()) if "empty_references" in c else 0
        row["hallucinated_words"] = int(c["hallucinated_words"].sum()) if "hallucinated_words" in c else 0
        silent = float(c["empty_reference_seconds"].sum()) if "empty_reference_seconds" in c else 0.0
        row["hallucinations_per_minute"] = 60.0 * row["hallucinated_words"] / silent if silent else None
        flagged = c["catastrophic"].dropna() if "catastrophic" in c else []
        row["catastrophic"] = int(flagged.sum()) if len(flagged) else None
        row["ins_rate"] = _pooled(c, "ins_rate")
        row["status"] = "ok" if (c["status"] == "ok").all() else ("failed" if (c["status"] == "failed").all() else "partial")
        row["_cells"] = {_cell_match_key(r): r["decode_seconds"] for _, r in measured.iterrows()}
        cvs = measured["timing_cv"].dropna() if "timing_cv" in measured else []
        row["timing_cv"] = float(cvs.max()) if len(cvs) else None
        verdict = noise.judge_rows(rows_of(c), cv=row["timing_cv"])
        row["loaded"], row["wide_spread"] = verdict.loaded, verdict.wide
        row["timing"] = "; ".join(verdict.marks()) or "ok"
        rows.append(row)
    table = pd.DataFrame(rows)
    table = table.sort_values(["backend", "model", "quantization", "device", "configuration"], kind="stable")
    table = table.reset_index(drop=True)
    ref_i = pick_reference(table, reference)
    ref_cells = table.at[ref_i, "_cells"]
    rel, low, high = [], [], []
    ref_cv = table.at[ref_i, "timing_cv"]
    for i, r in table.iterrows():
        common = [k for k in r["_cells"] if k in ref_cells and ref_cells[k] and r["_cells"][k] == r["_cells"][k]]
        num = sum(r["_cells"][k] for k in common)
        den = sum(ref_cells[k] for k in common)
        rel.append(float(num / den) if common and den > 0 else None)
        interval = (noise.ratio_interval([den], [num], spread_base=_nz(ref_cv), spread_cand=_nz(r["timing_cv"]))
                    if rel[-1] is not None and i != ref_i else None)
        low.append(interval.low if interval else None)
        high.append(interval.high if interval else None)
    table["relative_latency"] = rel
    table["relative_latency_low"] = low
    table["relative_latency_high"] = high
    table["is_reference"] = table.index == ref_i
    table = table.drop(columns=["_cells"])
    return table, str(table.at[ref_i, "configuration"])


SNR_COLUMNS = ("_row", "configuration", "backend", "variant", "algorithm", "noise", "snr_db", "wer", "ref_words")


def wer_by_snr(cells, table):
    """WER against SNR: of the cells of speech mixed with noise (dataset kind 'perturb',
    perturbation 'snr'), corpus WER (%) pooled per configuration, algorithm, noise colour and
    SNR; `_row` is the configuration's row in `table`. Sorted by row, algorithm, noise, SNR."""
    import pandas as pd

    empty = pd.DataFrame(columns=list(SNR_COLUMNS))
    if cells.empty or "perturbation" not in cells:
        return empty
    spec = cells["perturbation"].map(lambda p: p if isinstance(p, dict) else {})
    mixed = cells[spec.map(lambda p: p.get("kind") == "snr")]
    if mixed.empty:
        return empty
    mixed = mixed.assign(noise=spec[mixed.index].map(lambda p: p.get("noise")),
                         snr_db=spec[mixed.index].map(lambda p: float(p.get("snr_db"))))
    row_of = {key: i for i, key in enumerate(table["config_key"], 1)}
    out = []
    for (key, alg, colour, snr), g in mixed.groupby(["config_key", "algorithm", "noise", "snr_db"], sort=False):
        wer = _pooled_wer(g)
        if wer is not None:
            out.append({"_row": row_of.get(key), "configuration": g["configuration"].iloc[0],
                        "backend": g["backend"].iloc[0], "variant": g["variant"].iloc[0], "algorithm": alg,
                        "noise": colour, "snr_db": snr,
                        "wer": 100 * wer, "ref_words": int(g["ref_words"].sum())})
    if not out:
        return empty
    return pd.DataFrame(out).sort_values(["_row", "algorithm", "noise", "snr_db"], kind="stable").reset_index(drop=True)


def _nz(x: Any) -> float:
    return 0.0 if x is None or x != x else float(x)


def pick_reference(table, reference: str | int | None) -> int:
    """The reference row: None (the first row), a 1-based row number, `field=value[,field=value]`
    (e.g. `backend=ctranslate2,quantization=int8`), or text contained in one configuration label."""
    if reference is None or reference == "":
        return 0
    if isinstance(reference, int) or str(reference).isdigit():
        i = int(reference) - 1
        if not 0 <= i < len(table):
            raise WhisperbenchError(f"--reference {reference}: there are {len(table)} configurations (1..{len(table)})")
        return i
    ref = str(reference)
    if "=" in ref:
        mask = [True] * len(table)
        for part in ref.split(","):
            k, _, v = part.partition("=")
            k, v = k.strip(), v.strip()
            if k in table.columns:
                values = [str(x) for x in table[k]]
            else:  # a backend option (load_extra key)
                extras = [json.loads(e) if e else {} for e in table["load_extra"]]
                if not any(k in e for e in extras):
                    raise WhisperbenchError(f"--reference: unknown field {k!r}; valid: {', '.join(CONFIGURATION_FIELDS)} "
                                            "or a backend option")
                values = [str(e.get(k)) if k in e else None for e in extras]
            mask = [m and x == v for m, x in zip(mask, values)]
        hits = [i for i, m in enumerate(mask) if m]
    else:
        hits = [i for i, lab in enumerate(table["configuration"]) if ref in lab]
    if len(hits) != 1:
        labels = "; ".join(table["configuration"])
        raise WhisperbenchError(
            f"--reference {ref!r} matches {len(hits)} configurations; it must match exactly one of: {labels}")
    return hits[0]


# ---------------------------------------------------------------------------------------
# environment


def environment_summary(paths=None, df=None) -> list[dict[str, Any]]:
    """One entry per run: suite, created, machine, package versions, git commit."""
    runs = []
    if paths is not None:
        from whisperbench.bench.store import read_runs

        r = read_runs(paths)
        for _, run in r.iterrows():
            m = run.get("machine") if isinstance(run.get("machine"), dict) else {}
            runs.append({
                "run_id": run.get("run_id"), "suite": run.get("suite"), "created": run.get("created"),
                "hostname": m.get("hostname"), "os": m.get("os"), "python": m.get("python"),
                "cpu_model": m.get("cpu_model"), "cpu_count": m.get("cpu_count_logical"),
                "cpu_affinity": m.get("cpu_affinity"), "memory_total_mb": m.get("memory_total_mb"),
                "gpu_name": m.get("gpu_name"), "gpu_driver": m.get("gpu_driver"),
                "packages": {k: v for k, v in (run.get("packages") or {}).items() if v},
                "git_commit": run.get("git_commit"), "git_dirty": run.get("git_dirty"),
            })
    if not runs and df is not None and not df.empty:  # rows only: what every row carries
        for run_id, g in df.groupby("run_id", sort=False):
            f = g.iloc[0]
            runs.append({
                "run_id": run_id, "suite": f.get("suite"), "created": None, "hostname": f.get("hostname"), "os": None,
                "python": None, "cpu_model": f.get("cpu_model"), "cpu_count": f.get("cpus_logical"), "cpu_affinity": None,
                "memory_total_mb": None, "gpu_name": f.get("gpu_name"), "gpu_driver": f.get("gpu_driver"),
                "packages": {k: v for k, v in (f.get("packages") or {}).items() if v},
                "git_commit": f.get("git_commit"), "git_dirty": f.get("git_dirty"),
            })
    return runs


def reference_warnings(df) -> list[str]:
    """One line per dataset whose references lose words to the normalizer, naming them."""
    if "reference_words_dropped" not in df:
        return []
    hit = df[df["reference_words_dropped"].fillna(0) > 0].drop_duplicates(["dataset", "utterance_id"])
    out = []
    for dataset, g in hit.groupby("dataset", sort=False):
        named = ", ".join(f"{u} ({int(n)})" for u, n in zip(g["utterance_id"][:5], g["reference_words_dropped"][:5]))
        more = f" and {len(g) - 5} more" if len(g) > 5 else ""
        out.append(f"dataset {dataset}: the normalizer deletes bracketed reference words in {len(g)} utterance(s): "
                   f"{named}{more} words; a correct transcript of them scores as insertions")
    return out
