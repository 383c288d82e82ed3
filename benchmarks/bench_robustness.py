"""Robustness figures (issue 19), per backend with tiny.en:

a) hallucinated words per minute on 30 s of digital silence and of white, pink and brown
   noise, vad none against silero (sequential long-form);
b) WER on the shared short-form speech (LibriSpeech, LibriVox, jfk) clean, with pink
   noise mixed in at SNR 20, 10, 5 and 0 dB, and at a gain of -30 and +20 dB (clipped)
   (vad none);
c) the WER and RTFx change vad=silero brings on the long-form sets, sequential: the sonnets
   (default suite) and the longform suite's joins (sonnets-join 158 s, speech-join 245 s).

The datasets are the packaged suites' own (robustness, default, longform), so the figures
are of what those suites measure. Each backend runs as its own suite into its own results
file in one folder (one repeat, one warm-up per cell); a backend that cannot run is named
and skipped.
RTFx is measured on whatever machine this runs on: the `timing` column says when other
processes took CPU time while a cell was timed.

Usage:
  .venv/bin/python benchmarks/bench_robustness.py [-o results/robustness-figures] [--resume]
  .venv/bin/python benchmarks/bench_robustness.py -b ctranslate2 -b openai     # some backends
  .venv/bin/python benchmarks/bench_robustness.py --results results/robustness-figures   # print only
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from whisperbench import backends  # noqa: E402
from whisperbench.bench import read_results, summarize  # noqa: E402
from whisperbench.bench.perturb import NON_SPEECH  # noqa: E402
from whisperbench.bench.runner import run_suite  # noqa: E402
from whisperbench.bench.suite import build_suite, resolve_suite_path  # noqa: E402
from whisperbench.errors import WhisperbenchError  # noqa: E402

BACKENDS = ("ctranslate2", "transformers", "openai", "whispercpp", "transformersjs")
MODEL = "fixture:tiny.en"
NON_SPEECH_SETS = tuple(f"{kind}-30s" for kind in NON_SPEECH)  # robustness suite
SNR_SETS = ("short-snr20", "short-snr10", "short-snr5", "short-snr0")  # robustness suite
GAIN_SETS = ("short-gain-30dB", "short-gain+20dB")  # robustness suite
CLEAN_SETS = ("librispeech", "librivox", "jfk")  # default suite
LONG_SETS = {"default": ("sonnets",), "longform": ("sonnets-join", "speech-join")}


def packaged_datasets(suite: str, names, algorithm: str) -> list[dict]:
    data = tomllib.loads(resolve_suite_path(suite).read_text(encoding="utf-8"))
    found = {d["name"]: d for d in data["datasets"]}
    return [{**found[n], "algorithms": [algorithm]} for n in names]


def figures_suite(backend: str, only: list[str] | None = None):
    """The cells of the three figures for one backend (vad none and silero as variants; the
    SNR sweep and the clean speech with vad none only)."""
    datasets = (packaged_datasets("robustness", NON_SPEECH_SETS, "sequential")
                + packaged_datasets("robustness", SNR_SETS + GAIN_SETS, "short")
                + packaged_datasets("default", CLEAN_SETS, "short")
                + [d for suite, names in LONG_SETS.items() for d in packaged_datasets(suite, names, "sequential")])
    suite = build_suite({
        "name": f"robustness-figures-{backend}", "repeats": 1, "warmups": 1, "timeout_s": 1800,
        "decode": {"language": "en"},
        "variants": [{"name": "vad-none", "vad": "none"}, {"name": "vad-silero", "vad": "silero"}],
        "engines": [{"backend": backend, "model": MODEL}], "datasets": datasets,
    }, base_dir=resolve_suite_path("default").parent, source="benchmarks/bench_robustness.py")
    speech_only = set(SNR_SETS) | set(GAIN_SETS) | set(CLEAN_SETS)
    suite.cells = [c for c in suite.cells if not (c.dataset.name in speech_only and c.variant != "vad-none")
                   and (not only or c.dataset.name in only)]
    return suite


def _timing(r) -> str:
    """Whether other processes took CPU time while the cell was timed (bench.noise)."""
    loaded, others = r.get("loaded"), r.get("others_cpus")
    if loaded is None or loaded != loaded:
        return "load not recorded"
    if not loaded:
        return "ok"
    return "loaded" + (f" (others used {others:.1f} CPUs)" if others is not None and others == others else "")


def hallucination_table(cells) -> None:
    print("\na) hallucinated words per minute on 30 s of non-speech (sequential; in brackets: catastrophic rows)")
    print(f"{'backend':<15} {'vad':<7}" + "".join(f"{k:>13}" for k in NON_SPEECH))
    ns = cells[cells["dataset"].isin(NON_SPEECH_SETS)]
    for (backend, variant), g in ns.groupby(["backend", "variant"], sort=False):
        by = {d: r for d, r in zip(g["dataset"], g.to_dict("records"))}
        line = f"{backend:<15} {variant.removeprefix('vad-'):<7}"
        for name in NON_SPEECH_SETS:
            r = by.get(name)
            if r is None or not r["empty_reference_seconds"]:
                line += f"{'–':>13}"
                continue
            rate = 60 * r["hallucinated_words"] / r["empty_reference_seconds"]
            line += f"{rate:>8.1f} ({int(r['catastrophic'] or 0)})"
        print(line)


def snr_table(cells) -> None:
    print("\nb) WER (%) on the shared short-form speech (14 utterances), clean, with pink noise at an SNR, and at a "
          "gain (+20 dB is clipped) (vad none)")
    print(f"{'backend':<15} {'clean':>7}" + "".join(f"{s.removeprefix('short-snr') + ' dB':>8}" for s in SNR_SETS)
          + "".join(f"{'gain' + s.removeprefix('short-gain'):>15}" for s in GAIN_SETS))
    for backend, g in cells.groupby("backend", sort=False):
        def pooled(names) -> str:
            c = g[g["dataset"].isin(names) & (g["variant"] == "vad-none")]
            words = c["ref_words"].sum()
            return f"{100 * float((c['wer'] * c['ref_words']).sum() / words):.2f}" if words else "–"

        print(f"{backend:<15} {pooled(CLEAN_SETS):>7}" + "".join(f"{pooled([s]):>8}" for s in SNR_SETS)
              + "".join(f"{pooled([s]):>15}" for s in GAIN_SETS))


def vad_table(cells, df) -> None:
    print("\nc) long-form, sequential: vad=silero against none (RTFx: audio seconds / decode seconds, VAD included)")
    print(f"{'backend':<15} {'dataset':<13} {'WER none':>9} {'silero':>7} {'change':>7} {'RTFx none':>10} "
          f"{'silero':>7} {'change':>7} {'VAD s':>6}  timing")
    long_sets = [n for names in LONG_SETS.values() for n in names]
    lc = cells[cells["dataset"].isin(long_sets)]
    for (backend, dataset), g in lc.groupby(["backend", "dataset"], sort=False):
        by = {v: r for v, r in zip(g["variant"], g.to_dict("records"))}
        if not {"vad-none", "vad-silero"} <= set(by):
            continue
        a, b = by["vad-none"], by["vad-silero"]
        rows = df[(df["cell_id"] == b["cell_id"]) & (df["status"] == "ok")]
        vad_s = rows["vad_seconds"].sum() if "vad_seconds" in rows else float("nan")
        wer_a, wer_b = 100 * a["wer"], 100 * b["wer"]
        rtfx_change = 100 * (b["rtfx"] / a["rtfx"] - 1) if a["rtfx"] and b["rtfx"] else float("nan")
        timing = "; ".join(sorted({_timing(a), _timing(b)}))
        print(f"{backend:<15} {dataset:<13} {wer_a:>9.2f} {wer_b:>7.2f} {wer_b - wer_a:>+7.2f} {a['rtfx']:>10.1f} "
              f"{b['rtfx']:>7.1f} {rtfx_change:>+6.0f}% {vad_s:>6.2f}  {timing}")


def tables(results: Path) -> None:
    df = read_results(results)
    cells = summarize(df)
    cells = cells[cells["status"] != "failed"]
    print(f"results: {results}; load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("backends with rows: " + ", ".join(cells["backend"].unique()))
    measured = set(df.loc[df["status"] == "ok", "cell_id"])
    failed = df[(df["status"] == "failed") & ~df["cell_id"].isin(measured)]  # not since measured by --retry-failed
    for (backend, dataset), g in failed.groupby(["backend", "dataset"], sort=False):
        print(f"FAILED {backend} {dataset}: {g['error'].iloc[-1]}")
    hallucination_table(cells)
    snr_table(cells)
    vad_table(cells, df)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", type=Path, default=Path("results/robustness-figures"),
                    help="folder for the results files (BACKEND.jsonl)")
    ap.add_argument("--results", type=Path, help="print the tables of existing results (a folder or file); run nothing")
    ap.add_argument("--resume", action="store_true", help="continue the backends' files, skipping what is measured")
    ap.add_argument("--retry-failed", action="store_true", help="with --resume: measure failed cells again")
    ap.add_argument("-b", "--backend", action="append", help=f"only these backends (default: {', '.join(BACKENDS)})")
    ap.add_argument("-d", "--dataset", action="append",
                    help="only these datasets, e.g. -d sonnets-join to re-time the long-form sets on a quiet machine")
    ap.add_argument("--quiet", "-q", action="store_true")
    args = ap.parse_args()
    if args.results is None:
        args.output.mkdir(parents=True, exist_ok=True)
        for backend in args.backend or BACKENDS:
            if not backends.is_installed(backend):
                print(f"{backend}: skipped (not installed: {backends.install_hint(backend)})")
                continue
            try:
                suite = figures_suite(backend, args.dataset)
            except WhisperbenchError as exc:
                print(f"{backend}: skipped ({exc})")
                continue
            out = args.output / f"{backend}.jsonl"
            report = run_suite(suite, out, resume=args.resume and out.exists(), retry_failed=args.retry_failed,
                               quiet=args.quiet)
            print(f"{backend}: {report.rows_written} rows, {report.failures} failures, {report.wall_seconds:.0f} s")
    tables(args.results or args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
