"""Results files for the report and history tests, made from the stored default baseline
(real rows: 3 runs of the default suite, CTranslate2 tiny.en) by re-labelling runs and
commits and changing what a test needs (slower timings, dropped words). Reading and writing
them takes milliseconds; nothing is transcribed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from whisperbench.paths import PROJECT_ROOT

BASELINE = PROJECT_ROOT / "results" / "baselines" / "default" / "results.jsonl"


def baseline_records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in BASELINE.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["run_id"] for r in records if r.get("record") == "run"]


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def split_run(records: list[dict[str, Any]], run_id: str, new_run: Callable[[dict[str, Any]], str | None]) -> list[dict]:
    """The records of run `run_id`, each cell's rows moved to run `new_run(row)` (None: dropped),
    with a run record for every new run."""
    src = [r for r in records if r.get("run_id") == run_id]
    run = next(r for r in src if r.get("record") == "run")
    out, runs = [], {}
    for r in src:
        if r.get("record") not in ("measurement", "failure"):
            continue
        target = new_run(r)
        if target is None:
            continue
        if target not in runs:
            runs[target] = {**run, "run_id": target}
            out.append(runs[target])
        out.append({**r, "run_id": target})
    return out


def set_errors(row: dict[str, Any], deletions: int) -> dict[str, Any]:
    """`row` with `deletions` more deleted words (WER recomputed)."""
    row = dict(row)
    words = row["ref_words"] or 0
    extra = min(deletions, row["hits"] or 0)
    row.update(deletions=row["deletions"] + extra, hits=row["hits"] - extra)
    if words:
        row["wer"] = (row["substitutions"] + row["deletions"] + row["insertions"]) / words
    return row


def commit_files(out_dir: Path, commits: list[dict[str, Any]], source_run: int = 0) -> list[Path]:
    """One results file per commit, each a copy of one baseline run (the first by default) at
    commit `c["commit"]`, a day apart, with its timings marked unloaded and
    changed as asked: `slower` (a factor on every decode time), `drop` ({dataset: words
    deleted per utterance}), `fail` (datasets whose rows become failures)."""
    records = baseline_records()
    src_run = run_ids(records)[source_run]
    paths = []
    for day, c in enumerate(commits, 1):
        run_id = f"run-{c['commit']}"
        out = []
        for r in records:
            if r.get("run_id") != src_run or r.get("record") not in ("run", "measurement"):
                continue
            r = {**r, "run_id": run_id, "git_commit": c["commit"], "git_dirty": False}
            for k in ("timestamp", "created"):
                if r.get(k):
                    r[k] = f"2026-11-{day:02d}" + r[k][10:]
            if r["record"] == "measurement":
                r["others_cpu_seconds"] = 0.0
                r["decode_seconds"] *= c.get("slower", 1.0)
                r["rtfx"] = r["audio_seconds"] / r["decode_seconds"]
                if r["dataset"] in c.get("drop", {}):
                    r = set_errors(r, c["drop"][r["dataset"]])
                if r["dataset"] in c.get("fail", ()):
                    r = {k: v for k, v in r.items() if k not in ("hypothesis", "wer", "decode_seconds", "rtfx")}
                    r.update(record="failure", status="failed", scope="utterance", error_type="RuntimeError",
                             error="boom")
            out.append(r)
        paths.append(write(out_dir / f"{c['commit']}.jsonl", out))
    return paths
