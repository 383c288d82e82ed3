"""The results store: JSON Lines files under `results/`, one record per line, appended,
flushed and fsynced one at a time, so an interrupted run loses nothing it measured.

One writer per file: a `ResultWriter` holds an exclusive lock (`flock` on the results file
itself, so no lock file is left behind; the kernel drops it when the process dies, even by
SIGKILL) from opening to `close()`. A second writer -- another `bench`, or a `--resume`
while the first still runs -- is refused with a `WhisperbenchError` (the CLI's exit 2)
instead of interleaving a second run or duplicate rows into the file. Before anything is
changed, an existing file must be a results file (its first record carries
`schema_version`): a file that is not ours is never modified.

Public API
----------
- `ResultWriter(path, new=False)` / `write(path, record)`: append records (new=True: the
  file must be absent or empty, checked under the lock).
- `check_results_file(path)`: refuse a non-empty file that is not a results file.
- `read_records(paths)`: every record (all kinds), as dicts.
- `read_results(paths, include_failures=True) -> pandas.DataFrame`: measurement rows
  (and failure rows), one per (cell, utterance, repeat).
- `read_runs(paths) -> DataFrame`: run metadata records.
- `utterance_latency(df)`: per (cell, utterance) min / median latency over repeats.
- `summarize(df) -> DataFrame`: one row per (run, cell) with corpus WER, latency
  percentiles, RTFx, load time, peak memory, ... computed from the rows, and the
  dispersion of the cell's repeats (decode_seconds summed over utterances per repeat:
  timing_min_s, timing_median_s, timing_max_s, timing_cv) with the noise verdict
  (loaded, wide_spread, others_cpus; see whisperbench.bench.noise).

`paths` may be a file, a folder (all `*.jsonl` inside) or a list of either.

Record kinds (field `record`)
-----------------------------
Every record has `schema_version` (SCHEMA_VERSION, now 3) and `record`. The row and cell
records are typed in `whisperbench.bench.records` (Measurement, Failure, CellRecord,
SyntheticRow), which also defines cell identity and migrates older records on read.

`run` (written once when a results file is started):
    run_id, suite, suite_hash, created (ISO time), machine {hostname, os, python,
    cpu_model, cpu_count_logical, cpu_count_physical, cpu_affinity, memory_total_mb,
    gpu_name, gpu_driver, gpus}, packages {name: version}, git_commit, git_dirty,
    normalizer, cells (planned cells: cell_id -> identity), settings {repeats, warmups,
    timeout_s, max_memory_mb}.
`session` / `session_end`: each invocation (first run or --resume): started / wall_seconds,
    interrupted, counts.
`cell`: one per cell attempt after load and warm-ups: cell_id, load_seconds,
    warmup_seconds [..], rss_after_load_mb.
`measurement` (status "ok") and `failure` (status "failed") rows, with these fields:

  identity     run_id, cell_id, suite, backend, runtime_version, model, model_format
               (the format the runtime read), source_format (the model's format as given,
               when the backend converted it), weights_quantization (of the model as given,
               from whisperbench.conversion when available),
               compute_type, quantization (what ran: compute_type, or the weights'
               quantization when compute_type is "default"), device, threads,
               load_extra {..}, served (true: behind `whisperbench serve`), dataset, dataset_kind,
               dataset_path, dataset_hash,
               perturbation {..} (dataset kind 'perturb': what was generated or done to
               the source, bench.perturb.PerturbSpec; {} otherwise),
               algorithm, implementation, options_hash (DecodeOptions.hash()),
               options {all DecodeOptions fields}, normalizer (per measurement row: the one
               its language was scored with, English or basic; whisperbench.text)
  machine      hostname, cpu_model, cpus_logical (the machine's logical CPUs; version 1
               called it cpu_count), gpu_name, gpu_driver, packages {..}, git_commit, git_dirty
  utterance    utterance_id, repeat (0-based), reference, hypothesis,
               reference_normalized, hypothesis_normalized, language (detected, or the
               one given), language_probability (of the detected one, where the runtime
               reports it), reference_language (what the dataset states), n_segments
  accuracy     ref_words, hits, substitutions, deletions, insertions, wer (per utterance;
               None if the normalized reference is empty), ref_chars, char_edits, cer,
               empty_reference, hallucinated_words (words transcribed on an empty
               reference, whose edit counts are all 0), hallucinations_per_minute (of them,
               per minute of that audio), insertion_rate, repeated_5gram_share and
               compression_ratio (of the normalized hypothesis), catastrophic and
               catastrophic_reasons (bench.metrics.catastrophic; absent in older files)
  timing       audio_seconds, decode_seconds (the backend's timer around the whole decode,
               audio pre-decoded, device synchronized), call_seconds (the child process's timer
               around Backend.transcribe), rtfx, tokens, tokens_per_second, load_seconds,
               peak_rss_mb (the cell process's peak RSS so far), gpu_peak_mb (on CUDA:
               peak device memory in use above the reading before the model loaded,
               from NVML or nvidia-smi, the same measure for every runtime),
               gpu_allocated_peak_mb (PyTorch's allocator peak, torch runtimes only),
               vad_seconds (vad='silero': the detection, also inside decode_seconds), timestamp;
               served cells: server_decode_seconds (the server's own decode time; decode_seconds
               is the client's), server_peak_rss_mb, server_cpu_seconds (the server process's
               CPU time during the request)
  load         loadavg_before, loadavg_after ([1, 5, 15] min), load_cpus (usable CPUs),
               others_cpu_seconds (CPU time other processes took on them during the call),
               load_wall_seconds (see whisperbench.bench.noise; absent in older files)
  failure      error_type, error (and status "failed"; utterance_id / repeat are None
               when the cell failed outside an utterance, e.g. a crash while loading)

TIMING_COLUMNS lists the fields that legitimately differ between two runs of the same
suite; every other field of a measurement row is reproducible.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Union

from whisperbench.bench.records import CELL_COLUMNS, SCHEMA_VERSION, Record, migrate
from whisperbench.errors import WhisperbenchError, warn
from whisperbench.files import output_file

TIMING_COLUMNS = (
    "decode_seconds", "call_seconds", "rtfx", "tokens_per_second", "load_seconds",
    "peak_rss_mb", "gpu_peak_mb", "gpu_allocated_peak_mb", "timestamp",
    "loadavg_before", "loadavg_after", "others_cpu_seconds", "load_wall_seconds", "vad_seconds",
    "server_decode_seconds", "server_peak_rss_mb", "server_cpu_seconds",
)

PathLike = Union[str, os.PathLike]


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: store them as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class ResultWriter:
    """Append-only JSON Lines writer and the only writer of its file while open (see the
    module docstring); every `write` is flushed and fsynced before it returns."""

    def __init__(self, path: PathLike, *, new: bool = False) -> None:
        self.path = output_file(path, "results file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # appends only: changes nothing yet
        try:
            _lock(self._fh, self.path)
            check_results_file(self.path)
            if new and self.path.stat().st_size > 0:
                raise WhisperbenchError(f"{self.path} already exists; pass --resume to continue it, "
                                        "or another --output")
            repair(self.path)
        except BaseException:
            self._fh.close()
            raise

    def write(self, record: Record | dict[str, Any]) -> None:
        record = {"schema_version": SCHEMA_VERSION, **(record.to_dict() if isinstance(record, Record) else record)}
        line = json.dumps(_clean(record), ensure_ascii=False, separators=(",", ":"), default=str)
        self._fh.write(line + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()  # releases the lock

    def __enter__(self) -> "ResultWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lock(fh, path: Path) -> None:
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise WhisperbenchError(f"{path} is being written by another whisperbench process; wait for it to "
                                "finish, or write to another file") from None


def write(path: PathLike, record: Record | dict[str, Any]) -> None:
    with ResultWriter(path) as w:
        w.write(record)


def check_results_file(path: PathLike) -> None:
    """Raise unless `path` is missing, empty, or a results file: its first line is a JSON
    record with `schema_version` and `record` (or, when the file is one cut-off line, starts
    as our writer starts every line). Reads only; changes nothing."""
    p = Path(path)
    if not p.exists() or p.stat().st_size == 0:
        return
    with open(p, "rb") as fh:
        first = fh.readline(1 << 24)
    if first.endswith(b"\n"):
        try:
            rec = json.loads(first)
            ok = isinstance(rec, dict) and "schema_version" in rec and "record" in rec
        except (UnicodeDecodeError, json.JSONDecodeError):
            ok = False
    else:
        ok = first.startswith(b'{"schema_version":')
    if not ok:
        raise WhisperbenchError(f"{p} is not a whisperbench results file (its first line is not a results "
                                "record); it was left unchanged: write to another file")


def repair(path: Path) -> None:
    """Make a last line cut off by a kill harmless so appends start on a fresh line: a
    complete record missing only its newline gets the newline; a partial one is dropped.
    Only ever called on a file `check_results_file` accepted."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        size = fh.seek(0, os.SEEK_END)
        pos = size
        block = 1 << 16
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            k = chunk.rfind(b"\n")
            if k >= 0:
                break
            pos = start
        cut = start + k + 1 if pos > 0 else 0
        fh.seek(cut)
        last = fh.read()
        try:
            json.loads(last)
            fh.seek(0, os.SEEK_END)
            fh.write(b"\n")
        except (UnicodeDecodeError, json.JSONDecodeError):
            fh.truncate(cut)


def _files(paths: PathLike | Iterable[PathLike]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(p.glob("*.jsonl")))
        elif p.exists():
            out.append(p)
        else:
            raise WhisperbenchError(f"results file not found: {p}")
    return out


def read_records(paths: PathLike | Iterable[PathLike], kinds: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """All records of the given kinds, migrated to the current schema (`records.migrate`).
    A truncated last line (a kill mid-write) is skipped."""
    wanted = set(kinds) if kinds is not None else None
    records: list[dict[str, Any]] = []
    for path in _files(paths):
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except UnicodeDecodeError:
            raise WhisperbenchError(f"{path} is not a results file (not UTF-8 text)") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                if n >= len(lines) - 1:  # last line: a write cut off by a kill
                    warn(f"ignoring a partial last line in {path} (a write cut off by a kill)")
                    continue
                raise WhisperbenchError(f"{path}:{n}: not a JSON record; is it a results file?") from None
            if not isinstance(rec, dict):
                raise WhisperbenchError(f"{path}:{n}: not a JSON record; is it a results file?")
            if rec.get("schema_version", 0) > SCHEMA_VERSION:
                raise WhisperbenchError(
                    f"{path}: schema version {rec['schema_version']} is newer than this whisperbench reads ({SCHEMA_VERSION})"
                )
            if wanted is None or rec.get("record") in wanted:
                rec = migrate(rec)
                rec.setdefault("_file", str(path))
                records.append(rec)
    return records


def read_results(paths: PathLike | Iterable[PathLike], include_failures: bool = True):
    """Measurement rows (status "ok") and, by default, failure rows (status "failed")."""
    import pandas as pd

    kinds = ("measurement", "failure") if include_failures else ("measurement",)
    rows = read_records(paths, kinds)
    df = pd.DataFrame.from_records(rows)
    if df.empty:
        return df
    return df.drop(columns=["_file"]).reset_index(drop=True)


def read_runs(paths: PathLike | Iterable[PathLike]):
    import pandas as pd

    return pd.DataFrame.from_records(read_records(paths, ("run",)))


def utterance_latency(df):
    """Per (run, cell, utterance): latency min and median over repeats, audio seconds."""
    ok = df[df["status"] == "ok"]
    g = ok.groupby(["run_id", "cell_id", "utterance_id"], sort=False)
    return g.agg(
        latency_min_s=("decode_seconds", "min"),
        latency_median_s=("decode_seconds", "median"),
        repeats=("repeat", "nunique"),
        audio_seconds=("audio_seconds", "first"),
        tokens=("tokens", "median"),
    ).reset_index()


def repeat_totals(ok) -> list[float]:
    """Decode seconds per repeat, summed over the utterances measured in every repeat."""
    by_repeat: dict[Any, dict[Any, float]] = {}  # repeat -> utterance -> its first timing
    for u, r, d in zip(ok["utterance_id"], ok["repeat"], ok["decode_seconds"]):
        if d is not None and d == d:
            by_repeat.setdefault(r, {}).setdefault(u, float(d))
    repeats = sorted(by_repeat)
    every = set.intersection(*(set(by_repeat[r]) for r in repeats)) if repeats else set()
    return [sum(by_repeat[r][u] for u in sorted(every)) for r in repeats] if every else []


def cell_noise(ok) -> dict[str, Any]:
    """The dispersion of a cell's repeats and whether its timing is noise (bench.noise)."""
    from whisperbench.bench import noise

    d = noise.dispersion(repeat_totals(ok))
    v = noise.judge_rows(ok, cv=d["cv"])
    return {"timing_min_s": d["min"], "timing_median_s": d["median"], "timing_max_s": d["max"],
            "timing_cv": d["cv"], **noise.verdict_fields(v)}


def summarize(df):
    """One row per (run, cell): accuracy pooled over all measured (utterance, repeat) rows;
    latency percentiles over utterances of each utterance's median over repeats."""
    import numpy as np
    import pandas as pd

    from whisperbench.bench import word_metrics

    if df.empty:
        return pd.DataFrame()
    lat = utterance_latency(df) if (df["status"] == "ok").any() else None
    lat_rows = lat.groupby(["run_id", "cell_id"], sort=False).indices if lat is not None else {}
    out = []
    for (run_id, cell_id), cell in df.groupby(["run_id", "cell_id"], sort=False):
        ok = cell[cell["status"] == "ok"]
        failed = cell[cell["status"] == "failed"]
        row: dict[str, Any] = {"run_id": run_id, "cell_id": cell_id}
        for col in CELL_COLUMNS:
            row[col] = cell[col].iloc[0] if col in cell else None
        row["n_utterances"] = ok["utterance_id"].nunique()
        row["repeats"] = int(ok["repeat"].nunique()) if len(ok) else 0
        row["n_rows"] = len(ok)
        row["n_failed"] = len(failed)
        row["status"] = "ok" if failed.empty else ("failed" if ok.empty else "partial")
        row["error"] = failed["error"].iloc[-1] if not failed.empty else None
        # Rows with no reference words have no WER (rows stored before their edit counts
        # were zeroed carried insertions; they stay out too).
        scored = ok[ok["ref_words"] > 0] if len(ok) else ok
        ref_words = scored["ref_words"].sum() if len(scored) else 0
        if ref_words:
            row["wer"] = (scored["substitutions"].sum() + scored["deletions"].sum() + scored["insertions"].sum()) / ref_words
            row["sub_rate"] = scored["substitutions"].sum() / ref_words
            row["del_rate"] = scored["deletions"].sum() / ref_words
            row["ins_rate"] = scored["insertions"].sum() / ref_words
        else:
            row["wer"] = row["sub_rate"] = row["del_rate"] = row["ins_rate"] = None
        ref_chars = scored["ref_chars"].sum() if len(scored) else 0
        row["cer"] = scored["char_edits"].sum() / ref_chars if ref_chars else None
        row["ref_words"] = int(ref_words)
        # Empty references: no WER (their edit counts are zero), words transcribed there apart.
        empty = ok[ok["empty_reference"].fillna(False).astype(bool)] if "empty_reference" in ok else ok.iloc[0:0]
        row["empty_references"] = int(empty["utterance_id"].nunique())
        row["hallucinated_words"] = int(empty["hallucinated_words"].sum()) if len(empty) else 0
        row["empty_reference_seconds"] = float(empty["audio_seconds"].sum()) if len(empty) else 0.0
        # Rows flagged catastrophic (metrics.catastrophic); None for rows stored before the flag.
        flagged = ok["catastrophic"].dropna() if "catastrophic" in ok else []
        row["catastrophic"] = int(flagged.astype(bool).sum()) if len(flagged) else None
        impl = ok["implementation"].dropna() if "implementation" in ok else []
        row["implementation"] = str(impl.iloc[-1]) if len(impl) else None
        # Long-form diagnostics, per pass over the dataset (rows stored before they existed: None).
        passes = max(1, row["repeats"])
        has_be = "boundary_errors" in ok and ok["boundary_errors"].notna().any()
        row["boundary_errors"] = float(ok["boundary_errors"].sum()) / passes if has_be else None
        row["window_boundaries"] = (
            sum(len(b) for b in ok["window_boundaries"] if isinstance(b, list)) / passes if has_be else None
        )
        row.update(word_metrics.cell_fields(ok))  # word timestamps against reference times, where measured
        has_rd = "reference_words_dropped" in ok and ok["reference_words_dropped"].notna().any()
        row["reference_words_dropped"] = (
            int(ok.drop_duplicates("utterance_id")["reference_words_dropped"].fillna(0).sum()) if has_rd else None
        )
        if lat is not None and len(ok):
            lc = lat.iloc[lat_rows[(run_id, cell_id)]]
            med = lc["latency_median_s"].to_numpy()
            row["latency_p50_s"] = float(np.percentile(med, 50))
            row["latency_p90_s"] = float(np.percentile(med, 90))
            row["latency_p99_s"] = float(np.percentile(med, 99))
            row["latency_mean_s"] = float(med.mean())
            row["audio_seconds"] = float(lc["audio_seconds"].sum())
            row["decode_seconds"] = float(med.sum())  # sum over utterances of the median
            row["decode_seconds_min"] = float(lc["latency_min_s"].sum())
            row["rtfx"] = row["audio_seconds"] / row["decode_seconds"] if row["decode_seconds"] > 0 else None
            row["rtfx_best"] = row["audio_seconds"] / row["decode_seconds_min"] if row["decode_seconds_min"] > 0 else None
            dec = ok["decode_seconds"].sum()
            row["tokens_per_second"] = float(ok["tokens"].sum() / dec) if dec > 0 else None
            row["load_seconds"] = float(ok["load_seconds"].median())
            row["peak_rss_mb"] = float(ok["peak_rss_mb"].max())
            gpu = ok["gpu_peak_mb"].dropna() if "gpu_peak_mb" in ok else []
            row["gpu_peak_mb"] = float(gpu.max()) if len(gpu) else None
            row["repeated_5gram_share"] = float(ok["repeated_5gram_share"].mean())
            # vad='silero': the detection's own time per pass (already inside decode_seconds)
            vad = ok["vad_seconds"].dropna() if "vad_seconds" in ok else []
            row["vad_seconds"] = float(vad.sum()) / passes if len(vad) else None
            row.update(cell_noise(ok))
        out.append(row)
    return pd.DataFrame.from_records(out)
