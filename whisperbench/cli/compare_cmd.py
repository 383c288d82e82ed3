"""`whisperbench compare BASELINE CANDIDATE`: per-cell changes with uncertainty; exit 1 on regression."""

from __future__ import annotations

import argparse
import os

from whisperbench.bench.records import CELL_IDENTITY
from whisperbench.cli.common import add_gate_args, check_bootstrap


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare a candidate run against a baseline; exit 1 on regression, 2 on unusable input",
        description=(
            "Match cells by identity (backend, model, quantization, device, threads, backend options, dataset, "
            "algorithm, decoding options) and report, per cell, the WER change in points with a 95%% paired "
            "bootstrap interval over utterances and the latency ratio with an interval over utterances and "
            "repeats. Exit 0: no regression; 1: a cell regressed beyond a threshold; 2: unusable input "
            "(a dataset that differs between the two, baseline cells missing from the candidate or measured on far "
            "fewer utterances, no rows, a file that is not results). "
            "Speed is gated only when both ran on the same hardware and neither on a loaded machine; its interval "
            "allows for run-to-run noise, measured from several runs per side when given (a baseline saved from "
            "several runs), else assumed (--run-noise). Output is Markdown (CI job summaries)."
        ),
    )
    p.add_argument("baseline", help="baseline results file or folder, or a baseline name (see `whisperbench baseline`)")
    p.add_argument("candidate", nargs="+", help="candidate results files or folders")
    add_gate_args(p)
    from whisperbench.bench.compare import DEFAULT_MAX_WORD_TIMING_DROP

    p.add_argument("--max-word-timing-drop", type=float, default=DEFAULT_MAX_WORD_TIMING_DROP, metavar="POINTS",
                   help="allowed drop of the share of word boundaries within 250 ms of the reference word times, "
                        f"in absolute points (cells with word timestamps; default {DEFAULT_MAX_WORD_TIMING_DROP:g})")
    p.add_argument("--ignore", action="append", default=[], metavar="FIELD",
                   help=f"identity field allowed to differ when matching (repeatable or comma-separated): "
                        f"{', '.join(CELL_IDENTITY)}")
    p.add_argument("--allow-missing", action="store_true",
                   help="baseline cells missing from the candidate, or measured on far fewer utterances, are "
                        "listed but do not make the input unusable")
    p.add_argument("--hardware", choices=("auto", "same", "different"), default="auto",
                   help="auto: gate speed only when CPU model/count and GPU match; same: always; different: never")
    p.add_argument("--gate-loaded", action="store_true",
                   help="gate speed even on timings measured on a loaded machine (default: shown, marked, not gated)")
    p.add_argument("--markdown", "-o", metavar="FILE", help="also write the Markdown to FILE")
    p.add_argument("--summary", action="store_true",
                   help="also append the Markdown to $GITHUB_STEP_SUMMARY when it is set")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the verdict line")
    # Exit 1 means a regression only: a crash on unusable input must not read as one in CI.
    p.set_defaults(func=run, failure_exit=2)


def run(args: argparse.Namespace) -> int:
    from whisperbench.bench.baseline import resolve_results
    from whisperbench.bench.compare import compare
    from whisperbench.bench.store import read_results
    from whisperbench.files import output_file, write_text_atomic

    check_bootstrap(args)
    if args.markdown:
        output_file(args.markdown, "--markdown file")
    base_path, base_name = resolve_results(args.baseline)
    cand = [resolve_results(c) for c in args.candidate]
    ignore = [f.strip() for item in args.ignore for f in item.split(",") if f.strip()]
    from whisperbench.bench.scenarios.records import read_scenario_rows
    from whisperbench.bench.scenarios.summary import compare_scenarios

    cand_paths = [p for p, _ in cand]
    base_df, cand_df = read_results(base_path), read_results(cand_paths)
    base_scen = read_scenario_rows(base_path)
    scen = compare_scenarios(base_scen, read_scenario_rows(cand_paths), max_slowdown=args.max_slowdown,
                             run_noise=args.run_noise, gate_loaded=args.gate_loaded) if base_scen else None
    if scen is not None and base_df.empty:  # scenario rows only: their gates decide
        md = scen.markdown()
        print(md.splitlines()[0] if args.quiet else md)
        if args.markdown:
            write_text_atomic(args.markdown, md + "\n")
        return scen.exit_code
    result = compare(
        base_df, cand_df,
        max_wer_increase=args.max_wer_increase, max_slowdown=args.max_slowdown, ignore=ignore,
        bootstrap=args.bootstrap, allow_missing=args.allow_missing, hardware=args.hardware,
        run_noise=args.run_noise, gate_loaded=args.gate_loaded, max_word_timing_drop=args.max_word_timing_drop,
        baseline_name=base_name, candidate_name=", ".join(n for _, n in cand),
    )
    md = result.markdown() + ("\n\n" + scen.markdown() if scen is not None else "")
    if args.markdown:
        write_text_atomic(args.markdown, md + "\n")
    if args.summary and os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as fh:
            fh.write(md + "\n")
    print(md.splitlines()[0] if args.quiet else md)
    return max(result.exit_code, scen.exit_code) if scen is not None else result.exit_code
