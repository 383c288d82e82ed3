"""`whisperbench history RESULTS... --output-dir DIR`: metrics over commits, regressions
marked where `compare`'s gate would first have fired, the latest value against the best."""

from __future__ import annotations

import argparse
import sys

from whisperbench.cli.common import add_gate_args, check_bootstrap


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "history",
        help="history across commits: metric-over-commit charts per cell, regressions marked, latest vs best",
        description=(
            "Read results measured at several commits (each row carries its git commit and time) and write, into "
            "--output-dir, index.html (self-contained, interactive: WER, RTFx, p90 latency and peak memory over "
            "commits per configuration and dataset, each commit with its 95%% interval, regressions marked at the "
            "commit where `whisperbench compare`'s gate would first have fired; a sortable table of the latest "
            "value against the best seen), history.md (for job summaries) and history.json. Prints the Markdown."
        ),
    )
    p.add_argument("results", nargs="+", help="results files or folders (JSON Lines), or baseline names")
    p.add_argument("--output-dir", "-o", required=True, help="where to write index.html, history.md, history.json")
    add_gate_args(p)
    p.add_argument("--title", help="page title")
    p.add_argument("--quiet", "-q", action="store_true", help="do not print the Markdown")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from whisperbench.bench.baseline import resolve_results
    from whisperbench.bench.history import write_history

    check_bootstrap(args)
    paths = [resolve_results(r)[0] for r in args.results]
    hist, written = write_history(paths, args.output_dir, max_wer_increase=args.max_wer_increase,
                                  max_slowdown=args.max_slowdown, run_noise=args.run_noise,
                                  bootstrap=args.bootstrap, title=args.title)
    if not args.quiet:
        print(hist.markdown())
    print("wrote " + ", ".join(str(p) for p in written.values()), file=sys.stderr)
    return 0
