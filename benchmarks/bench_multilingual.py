"""Multilingual accuracy and language identification: fixture:base on every runtime that
detects languages, 60 Common Voice clips in 10 languages, no language given.

Runs the packaged `multilingual` suite (whisperbench/bench/suites/multilingual.toml) and
prints, per backend and language, WER and CER (the language's primary metric marked *),
the identification accuracy and the mean probability of the detected language; then the
confusions, and each backend's RTFx with a mark when the machine was loaded while timed.
Transformers.js detects through whisperbench's worker (the library has no detection of its own).

Usage:
  .venv/bin/python benchmarks/bench_multilingual.py [-o results/multilingual.jsonl] [--resume]
  .venv/bin/python benchmarks/bench_multilingual.py --results results/multilingual.jsonl   # print only
  .venv/bin/python benchmarks/bench_multilingual.py -b ctranslate2 -b openai               # some backends
  .venv/bin/python benchmarks/bench_multilingual.py -b transformers --per-language 2         # the first 2 clips of each
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._suite_run import add_run_arguments, run_packaged_suite  # noqa: E402
from whisperbench.bench import read_results  # noqa: E402
from whisperbench.bench.aggregate import cell_summary  # noqa: E402
from whisperbench.bench.languages import ALL, confusion_table, language_table  # noqa: E402
from whisperbench.paths import speech_dir  # noqa: E402


def _pct(x, mark: bool = False) -> str:
    return "–" if x is None or x != x else f"{100 * x:.1f}{'*' if mark else ''}"


def table(results: Path) -> None:
    df = read_results(results)
    cells = cell_summary(df)
    langs = language_table(df, cells)
    backend_of = dict(zip(cells["configuration"], cells["backend"]))
    print(f"load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("WER / CER in %, * = the language's primary metric; LID = identification accuracy (%), "
          "p = mean probability of the detected language\n")
    configs = list(dict.fromkeys(langs["configuration"]))
    by = langs.set_index(["configuration", "language"])
    width = 26
    print(f"{'language':<9}" + "".join(f"{backend_of.get(c, c):>{width}}" for c in configs))
    print(f"{'':<9}" + "".join(f"{'WER  CER  LID  p':>{width}}" for _ in configs))
    for lang in [x for x in dict.fromkeys(langs["language"]) if x != ALL] + [ALL]:
        line = f"{lang:<9}"
        for c in configs:
            if (c, lang) not in by.index:
                line += f"{'–':>{width}}"
                continue
            r = by.loc[(c, lang)]
            p = r["lid_probability"]
            text = (f"{_pct(r['wer'], r['primary'] == 'wer')} {_pct(r['cer'], r['primary'] == 'cer')} "
                    f"{_pct(r['lid_accuracy'])} {'–' if p is None or p != p else f'{p:.2f}'}")
            line += f"{text:>{width}}"
        print(line)
    conf = confusion_table(df, cells)
    print("\nconfusions (spoken -> detected, rows):")
    if conf.empty:
        print("  none")
    for config, g in conf.groupby("configuration", sort=False):
        pairs = ", ".join(f"{r['language']}->{r['detected']} {r['rows']}" for _, r in g.iterrows())
        print(f"  {backend_of.get(config, config):<13} {pairs}")
    print("\nspeed (machine shared with other work: timings are indicative only)")
    for _, c in cells.iterrows():
        loaded = c.get("loaded")
        mark = "loaded" if loaded is True or loaded == 1 else ("load not recorded" if loaded is None else "")
        others = c.get("others_cpus")
        if mark == "loaded" and others is not None and others == others:
            mark += f" (others used {others:.2f} CPUs)"
        print(f"  {c['backend']:<13} RTFx {c['rtfx']:6.1f}  load {c['load_seconds']:.1f} s  {mark}")


def first_per_language(n: int) -> list[str]:
    """Ids of the first `n` clips of each language in the shared multilingual manifest."""
    rows = map(json.loads, (speech_dir() / "multilingual" / "manifest.jsonl").read_text().splitlines())
    subset, count = [], {}
    for r in rows:
        count[r["language"]] = count.get(r["language"], 0) + 1
        if count[r["language"]] <= n:
            subset.append(r["id"])
    return subset


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(ap, Path("results/multilingual.jsonl"))
    ap.add_argument("--per-language", type=int, metavar="N", help="only the first N clips of each language")
    args = ap.parse_args()
    if args.results is None:
        def subset(data: dict[str, Any]) -> None:
            data["datasets"][0]["subset"] = first_per_language(args.per_language)

        run_packaged_suite("multilingual", args.output, backends=args.backend, resume=args.resume,
                           edit=subset if args.per_language else None)
    table(args.results or args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
