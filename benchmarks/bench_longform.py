"""Long-form fidelity: every backend, sequential vs chunked, on continuous speech.

Runs the packaged `longform` suite (the sonnets read back to back, 158 s, and all the shared
English speech joined with no gaps, 245 s; tiny.en; each backend's default chunked
implementation) and prints, per dataset, backends x {sequential, chunked} x {WER, S/D/I,
boundary errors, RTFx}, and whether chunked WER stays within `--bound` points of
sequential (issue 12's target: 1.5).

Usage:
  .venv/bin/python benchmarks/bench_longform.py [-o results/longform.jsonl] [--resume]
  .venv/bin/python benchmarks/bench_longform.py --results results/longform.jsonl   # print only
  .venv/bin/python benchmarks/bench_longform.py -b openai -b whispercpp            # some backends
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._suite_run import add_run_arguments, run_packaged_suite  # noqa: E402
from whisperbench.bench import read_results, summarize  # noqa: E402


def table(results: Path, bound: float) -> int:
    cells = summarize(read_results(results))
    cells = cells[cells["algorithm"].isin(["sequential", "chunked"])]
    worst = 0
    print(f"load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for dataset, d in cells.groupby("dataset", sort=False):
        print(f"\n{dataset}")
        print(f"{'backend':<13} {'algorithm':<10} {'WER %':>6} {'S':>4} {'D':>4} {'I':>4} {'bnd err':>8} "
              f"{'RTFx':>6}  implementation")
        for backend, b in d.groupby("backend", sort=False):
            wer = {}
            for _, r in b.sort_values("algorithm", ascending=False).iterrows():
                passes = max(1, int(r["repeats"]))
                words = r["ref_words"] / passes
                s, dl, i = (round(r[c] * words) for c in ("sub_rate", "del_rate", "ins_rate"))
                be = r.get("boundary_errors")
                be = "–" if be is None or be != be else f"{be:.0f}"
                wer[r["algorithm"]] = 100 * r["wer"]
                print(f"{backend:<13} {r['algorithm']:<10} {100 * r['wer']:>6.2f} {s:>4} {dl:>4} {i:>4} {be:>8} "
                      f"{r['rtfx']:>6.1f}  {r.get('implementation')}")
            if {"sequential", "chunked"} <= set(wer):
                delta = wer["chunked"] - wer["sequential"]
                ok = delta <= bound
                worst |= not ok
                print(f"{'':<13} chunked - sequential = {delta:+.2f} points: "
                      f"{'within' if ok else 'OUTSIDE'} the {bound:g}-point bound")
    return int(worst)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(ap, Path("results/longform.jsonl"))
    ap.add_argument("--bound", type=float, default=1.5, help="allowed chunked - sequential WER, points")
    args = ap.parse_args()
    if args.results is None:
        run_packaged_suite("longform", args.output, backends=args.backend, resume=args.resume)
    return table(args.results or args.output, args.bound)


if __name__ == "__main__":
    raise SystemExit(main())
