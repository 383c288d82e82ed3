"""`whisperbench recommend RESULTS --max-wer X`: the fastest configuration meeting constraints."""

from __future__ import annotations

import argparse

from whisperbench.options import ALGORITHMS


def _percent(value: str) -> float:
    v = float(value.rstrip("%"))
    if v < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return v


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recommend",
        help="pick the fastest configuration meeting WER / device / memory constraints",
        description=(
            "From stored results, pick the fastest configuration (lowest p50 or p90 per-utterance latency on "
            "the datasets all configurations measured) whose corpus WER is at most --max-wer percent, on "
            "--device, within --max-memory MB; explain the choice and the runner-up, and print the "
            "`whisperbench bench` command that reproduces it. Exit 1 when nothing qualifies."
        ),
    )
    p.add_argument("results", nargs="+", help="results files or folders, or baseline names")
    p.add_argument("--max-wer", type=_percent, required=True, metavar="PERCENT",
                   help="the largest acceptable WER, in percent (e.g. 5 or 5%%)")
    p.add_argument("--device", help="only configurations on this device (cpu, cuda, ...)")
    p.add_argument("--max-memory", type=float, metavar="MB", help="peak RSS (and GPU peak) at most this many MB")
    p.add_argument("--latency", choices=("p50", "p90"), default="p50", help="the latency to minimise (default p50)")
    p.add_argument("--algorithm", choices=ALGORITHMS, default="short",
                   help="the workload: which algorithm's cells to judge on (default short)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from whisperbench.bench.baseline import resolve_results
    from whisperbench.bench.recommend import recommend
    from whisperbench.bench.store import read_results

    df = read_results([resolve_results(r)[0] for r in args.results])
    rec = recommend(df, max_wer=args.max_wer / 100.0, device=args.device, max_memory_mb=args.max_memory,
                    latency=args.latency, algorithm=args.algorithm)
    print(rec.text())
    return 0 if rec.choice else 1
