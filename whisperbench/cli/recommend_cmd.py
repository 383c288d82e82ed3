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
    p.add_argument("--max-wer", type=_percent, metavar="PERCENT",
                   help="the largest acceptable WER, in percent (e.g. 5 or 5%%); required without --rate")
    p.add_argument("--rate", type=float, metavar="Q/S",
                   help="from scenario rows: the cheapest configuration measured to hold this many requests/s "
                        "with --latency-percentile latency <= --max-latency")
    p.add_argument("--max-latency", type=float, default=2.0, metavar="S", help="with --rate (default 2 s)")
    p.add_argument("--latency-percentile", type=float, default=90.0, choices=(50.0, 90.0, 99.0),
                   help="with --rate (default 90)")
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

    from whisperbench.errors import WhisperbenchError

    paths = [resolve_results(r)[0] for r in args.results]
    if args.rate is not None:
        from whisperbench.bench.scenarios.records import read_scenario_rows
        from whisperbench.bench.scenarios.summary import recommend_scenario

        choice, _, text = recommend_scenario(
            read_scenario_rows(paths), rate=args.rate, max_latency_s=args.max_latency,
            percentile=args.latency_percentile, device=args.device,
            max_wer=None if args.max_wer is None else args.max_wer / 100.0)
        print(text)
        return 0 if choice else 1
    if args.max_wer is None:
        raise WhisperbenchError("give --max-wer (or --rate for deployment scenarios)")
    df = read_results(paths)
    rec = recommend(df, max_wer=args.max_wer / 100.0, device=args.device, max_memory_mb=args.max_memory,
                    latency=args.latency, algorithm=args.algorithm)
    print(rec.text())
    return 0 if rec.choice else 1
