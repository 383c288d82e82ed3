"""Named baselines: `results/baselines/<name>/` (under `whisperbench.paths.results_dir()`).

A baseline folder holds
- `results.jsonl`: every record of the saved results (runs, cells, measurements,
  failures), so `read_results(folder)` reads it like any results file;
- `environment.json`: name, when it was saved, from which files, and per run the machine
  (CPU, GPU, memory, OS, Python), package versions and git commit;
- `summary.md`: the report table at the time of saving (for reading on GitHub).

`compare` takes a baseline name wherever it takes a results path. A baseline saved from
several runs of one suite keeps them as replicates: their spread is the run-to-run noise
that `compare`'s speed interval uses (see `whisperbench.bench.compare`). Whether the candidate
ran on the same hardware is decided per cell from what the rows record (CPU model, CPU
count, GPU name; see `whisperbench.bench.compare`): a baseline recorded elsewhere gates on
WER only.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from whisperbench.errors import WhisperbenchError, warn
from whisperbench.files import output_folder

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
RESULTS_FILE = "results.jsonl"
ENVIRONMENT_FILE = "environment.json"
SUMMARY_FILE = "summary.md"


def baselines_dir() -> Path:
    from whisperbench.paths import results_dir

    return results_dir() / "baselines"


def baseline_dir(name: str) -> Path:
    if not NAME_RE.match(name or ""):
        raise WhisperbenchError(f"baseline name {name!r}: use letters, digits, '.', '_' and '-'")
    return baselines_dir() / name


def list_baselines() -> list[str]:
    d = baselines_dir()
    return sorted(p.name for p in d.iterdir() if (p / RESULTS_FILE).is_file()) if d.is_dir() else []


def exists(name: str) -> bool:
    return bool(NAME_RE.match(name or "")) and (baselines_dir() / name / RESULTS_FILE).is_file()


def save(name: str, results: str | Path | Iterable[str | Path], *, force: bool = False,
         description: str | None = None) -> Path:
    """Store `results` (files or folders) as baseline `name`; returns its folder."""
    from whisperbench.bench import aggregate, report
    from whisperbench.bench.store import SCHEMA_VERSION, read_records, read_results

    target = output_folder(baseline_dir(name), "baseline folder")
    paths = [results] if isinstance(results, (str, Path)) else list(results)
    if not paths:
        raise WhisperbenchError("baseline save: give at least one results file")
    resolved = []
    for p in paths:
        p = Path(p)
        if target.exists() and p.resolve().is_relative_to(target.resolve()):
            raise WhisperbenchError(f"baseline save: {p} is inside the baseline being replaced")
        resolved.append(p)
    records = read_records(resolved)
    df = read_results(resolved)
    if df.empty or not (df["status"] == "ok").any():
        raise WhisperbenchError(f"baseline save: no successful measurement rows in {', '.join(map(str, resolved))}")
    if target.exists() and not force:
        raise WhisperbenchError(f"baseline {name!r} already exists at {target}; pass --force to replace it")
    for problem in incomplete(records):
        warn(f"baseline {name!r}: {problem}")
    env = aggregate.environment_summary(resolved, df)
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / (RESULTS_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for rec in records:
            rec = {k: v for k, v in rec.items() if k != "_file"}
            rec.setdefault("schema_version", SCHEMA_VERSION)
            fh.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":"), default=str) + "\n")
    tmp.replace(target / RESULTS_FILE)
    meta = {
        "name": name,
        "description": description,
        "saved": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sources": [str(p) for p in resolved],
        "rows": int((df["status"] == "ok").sum()),
        "failed_rows": int((df["status"] == "failed").sum()),
        "cells": int(df["cell_id"].nunique()),
        "runs": env,
    }
    (target / ENVIRONMENT_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    rep = report.build_report(target / RESULTS_FILE, title=f"Baseline {name}")
    rep.sources = [f"results/baselines/{name}/{RESULTS_FILE}"]
    (target / SUMMARY_FILE).write_text(rep.markdown(image_links=False), encoding="utf-8")
    return target


def incomplete(records: list[dict[str, Any]]) -> list[str]:
    """Why `records` may not be whole runs: measurement rows stored twice (two writers on
    one file, before the store locked), or planned rows never measured (an interrupted run).
    Rows of a cell that stopped (crash, timeout, load error) are not expected."""
    from collections import Counter

    problems = []
    key = lambda r: (r.get("run_id"), r.get("cell_id"), r.get("utterance_id"), r.get("repeat"))  # noqa: E731
    ok = Counter(key(r) for r in records if r.get("record") == "measurement")
    dups = sum(n - 1 for n in ok.values() if n > 1)
    if dups:
        problems.append(f"{dups} duplicate measurement row(s) (the same run, cell, utterance and repeat stored "
                        "more than once): they count twice in every figure")
    failures = [r for r in records if r.get("record") == "failure"]
    measured = set(ok) | {key(r) for r in failures if r.get("scope") == "utterance"}
    for run in (r for r in records if r.get("record") == "run"):
        repeats = (run.get("settings") or {}).get("repeats")
        cells = run.get("cells") or {}
        if not repeats or not cells:
            continue
        rid = run.get("run_id")
        stopped = {r.get("cell_id") for r in failures if r.get("run_id") == rid and r.get("scope") != "utterance"}
        planned = sum(int(c.get("utterances") or 0) * int(repeats) for cid, c in cells.items() if cid not in stopped)
        have = sum(1 for k in measured if k[0] == rid and k[1] not in stopped)
        if have < planned:
            problems.append(f"run {str(rid)[:8]} is incomplete (interrupted?): {have} of {planned} planned rows "
                            "measured; finish it with `whisperbench bench --resume -o FILE` first")
    return problems


def load_environment(name: str) -> dict[str, Any]:
    d = baseline_dir(name)
    if not (d / RESULTS_FILE).is_file():
        have = ", ".join(list_baselines()) or "none"
        raise WhisperbenchError(f"no baseline named {name!r} under {baselines_dir()} (have: {have})")
    f = d / ENVIRONMENT_FILE
    return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {"name": name}


def show(name: str) -> str:
    """Markdown: what the baseline holds and where it was recorded, with its table."""
    from whisperbench.bench import report

    meta = load_environment(name)
    d = baseline_dir(name)
    lines = [f"# Baseline {name}", ""]
    lines.append(f"- Folder: `{d}`")
    if meta.get("description"):
        lines.append(f"- Description: {meta['description']}")
    if meta.get("saved"):
        lines.append(f"- Saved: {meta['saved']} from {', '.join(meta.get('sources', []))}")
    if "rows" in meta:
        lines.append(f"- {meta['cells']} cells, {meta['rows']} measurement rows, {meta['failed_rows']} failed rows")
    lines.append("")
    rep = report.build_report(d / RESULTS_FILE, title=f"Baseline {name}")
    rep.sources = [str(d / RESULTS_FILE)]
    lines.append(rep.markdown(image_links=False))
    return "\n".join(lines)


def resolve_results(arg: str | Path) -> tuple[Path, str]:
    """A results file or folder, or a baseline name -> (path to read, display name)."""
    p = Path(arg).expanduser()
    if p.exists():
        return p, str(arg)
    name = str(arg)
    if name.startswith("baseline:"):
        name = name[len("baseline:"):]
    if exists(name):
        return baseline_dir(name) / RESULTS_FILE, f"baseline {name}"
    have = ", ".join(list_baselines()) or "none"
    raise WhisperbenchError(f"{arg}: not a results file or folder, nor a baseline name (baselines: {have})")
