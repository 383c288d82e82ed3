"""How honest is the speed gate? Repeated runs of one configuration, compared pairwise.

1. Runs one suite N times back to back (default: tiny.en CTranslate2 int8 on jfk and three
   LibriVox utterances, the default suite's repeats and warm-ups), or reads result files
   given with --results, and prints each run's totals per cell with the load it recorded.
2. Estimates the run-to-run noise: the log standard deviation of a run's total latency,
   pooled over cells (compare against `noise.DEFAULT_RUN_NOISE`).
3. False-positive rate of `compare --max-slowdown 1.1` over runs of the same code:
   a. every ordered pair of single runs (i as baseline, j as candidate), with the old gate
      (within-run bootstrap only, i.e. --run-noise 0) and the new one (default run noise);
   b. every 3-run baseline against each other single run (between-run variance from data).
   Rows measured on a loaded machine are not gated by the new gate; the count says how many.
4. Detection: the same comparisons with the candidate's decode times multiplied by 1.3
   (an exact 1.3x slowdown on real timings), and the smallest slowdown the data resolve
   (the interval's half-width as a ratio) for 1+1, 3+1, 5+1 and 3+3 runs at the measured noise.

Speed figures depend on load: note `cat /proc/loadavg` (printed) next to them.

Usage: .venv/bin/python benchmarks/bench_speed_gate.py [--runs 10] [--results r1.jsonl r2.jsonl ...]
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from whisperbench.bench import noise, read_results, summarize  # noqa: E402
from whisperbench.bench.compare import compare  # noqa: E402
from whisperbench.paths import speech_dir  # noqa: E402

SUITE = """
name = "gate-noise"
repeats = 3
warmups = 1
timeout_s = 300

[decode]
language = "en"

[[engines]]
backend = "ctranslate2"
model = "fixture:tiny.en"
compute_type = "int8"
device = "cpu"
threads = 0

[[datasets]]
name = "jfk"
kind = "manifest"
path = "{speech}/jfk/manifest.jsonl"
algorithms = ["short"]

[[datasets]]
name = "librivox"
kind = "manifest"
path = "{speech}/librivox/manifest.jsonl"
algorithms = ["short"]
limit = 3
"""


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip() if Path("/proc/loadavg").exists() else "n/a"


def make_runs(n: int, tmp: Path) -> list[Path]:
    from whisperbench.bench.runner import run_suite
    from whisperbench.bench.suite import load_suite

    suite_file = tmp / "suite.toml"
    suite_file.write_text(SUITE.format(speech=speech_dir()))
    out = []
    for i in range(n):
        p = tmp / f"run{i:02d}.jsonl"
        t0 = time.perf_counter()
        run_suite(load_suite(suite_file), p, quiet=True)
        print(f"run {i + 1}/{n}: {time.perf_counter() - t0:.1f} s wall, loadavg {loadavg()}", flush=True)
        out.append(p)
    return out


def slowed(df, factor: float):
    df = df.copy()
    df["decode_seconds"] = df["decode_seconds"] * factor
    return df


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--results", nargs="+", type=Path, help="use these results files instead of running")
    ap.add_argument("--max-slowdown", type=float, default=1.1)
    ap.add_argument("--bootstrap", type=int, default=500)
    args = ap.parse_args()

    print(f"loadavg at start: {loadavg()}")
    with tempfile.TemporaryDirectory() as d:
        paths = args.results or make_runs(args.runs, Path(d))
        frames = [read_results(p) for p in paths]
    frames = [f[f["status"] == "ok"] for f in frames]
    print(f"loadavg after the runs: {loadavg()}\n")

    # 1. per-run totals and load
    cells = sorted(frames[0]["cell_id"].unique())
    logs: dict[str, list[float]] = {c: [] for c in cells}
    print("run | " + " | ".join(f"{frames[0][frames[0]['cell_id'] == c]['dataset'].iloc[0]} total s" for c in cells)
          + " | others' CPUs | loaded | max CV")
    for i, f in enumerate(frames):
        s = summarize(f)
        tot = []
        for c in cells:
            row = s[s["cell_id"] == c].iloc[0]
            tot.append(row["decode_seconds"])
            logs[c].append(math.log(row["decode_seconds"]))
        v = noise.judge_rows(f)
        print(f"{i + 1} | " + " | ".join(f"{t:.3f}" for t in tot)
              + f" | {v.others_cpus if v.others_cpus is None else round(v.others_cpus, 2)} | {v.loaded}"
              + f" | {s['timing_cv'].max():.3f}")

    # 2. run-to-run noise
    ss = sum(sum((x - statistics.fmean(v)) ** 2 for x in v) for v in logs.values())
    df = sum(len(v) - 1 for v in logs.values())
    sigma = math.sqrt(ss / df) if df else float("nan")
    print(f"\nrun-to-run noise (log sd of a run's total, pooled over {len(cells)} cells, df {df}): {sigma:.3f} "
          f"(assumed default: {noise.DEFAULT_RUN_NOISE})")
    for c in cells:
        print(f"  {c[:12]}: log sd {statistics.stdev(logs[c]):.3f}, max/min {math.exp(max(logs[c]) - min(logs[c])):.3f}")

    # 3 and 4. pairwise comparisons
    def run(base, cand, run_noise=noise.DEFAULT_RUN_NOISE, gate_loaded=False):
        return compare(base, cand, max_slowdown=args.max_slowdown, bootstrap=args.bootstrap, run_noise=run_noise,
                       gate_loaded=gate_loaded)

    def tally(results):
        cells_n = sum(len(r.cells) for r in results)
        flagged = sum(1 for r in results for c in r.cells if any("slower" in x for x in c.regressions))
        ungated = sum(1 for r in results for c in r.cells if not c.speed_comparable)
        res = [c.resolution for r in results for c in r.cells if c.resolution]
        return cells_n, flagged, ungated, (statistics.median(res) if res else float("nan"))

    n = len(frames)
    pairs = list(itertools.permutations(range(n), 2))
    print(f"\nFalse positives at --max-slowdown {args.max_slowdown:g} (same code, every ordered pair of runs; "
          f"flagged cells / compared cells):")
    for label, kw in (("old gate: within-run bootstrap only (--run-noise 0 --gate-loaded)",
                       {"run_noise": 0.0, "gate_loaded": True}),
                      (f"new gate, one run per side (assumed noise {noise.DEFAULT_RUN_NOISE})", {}),
                      ("new gate, one run per side, --gate-loaded", {"gate_loaded": True})):
        cn, fl, ug, res = tally([run(frames[i], frames[j], **kw) for i, j in pairs])
        print(f"  {label}: {fl}/{cn} = {100 * fl / cn:.1f}% flagged; {ug} not gated (loaded); "
              f"median resolution {res:.2f}x")
    import pandas as pd

    triples = [(b, j) for b in itertools.combinations(range(n), 3) for j in range(n) if j not in b]
    if len(triples) > 120:
        triples = triples[:: math.ceil(len(triples) / 120)]
    base3 = {b: pd.concat([frames[i] for i in b]) for b, _ in triples}
    for extra, kw in (("", {}), (", --gate-loaded", {"gate_loaded": True})):
        cn, fl, ug, res = tally([run(base3[b], frames[j], **kw) for b, j in triples])
        print(f"  new gate, 3-run baseline vs another run{extra} ({len(triples)} combinations): {fl}/{cn} = "
              f"{100 * fl / cn:.1f}% flagged; {ug} not gated (loaded); median resolution {res:.2f}x")

    print(f"\nDetection of an exact 1.3x slowdown (candidate decode times x1.3):")
    for extra, kw in (("", {}), (", --gate-loaded", {"gate_loaded": True})):
        cn, fl, ug, res = tally([run(frames[i], slowed(frames[j], 1.3), **kw) for i, j in pairs])
        print(f"  one run per side{extra}: {fl}/{cn} caught, {ug} not gated (loaded)")
        cn, fl, ug, res = tally([run(base3[b], slowed(frames[j], 1.3), **kw) for b, j in triples])
        print(f"  3-run baseline{extra}: {fl}/{cn} caught, {ug} not gated (loaded)")

    print(f"\nSmallest slowdown resolved (95% interval half-width as a ratio) at the measured noise {sigma:.3f}:")
    for k, m in ((1, 1), (3, 1), (5, 1), (3, 3), (5, 5)):
        if k + m - 2 >= 1:
            q, s = noise.t975(k + m - 2), sigma
        else:
            q, s = noise.Z95, noise.DEFAULT_RUN_NOISE
        print(f"  {k} baseline run(s) + {m} candidate run(s): {math.exp(q * s * math.sqrt(1 / k + 1 / m)):.2f}x"
              + (" (assumed noise)" if k + m == 2 else ""))
    print(f"\nloadavg at end: {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
