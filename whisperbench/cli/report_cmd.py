"""`whisperbench report RESULTS...`: the configuration table as Markdown and HTML, with plots."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="report stored results: Markdown with PNG plots, and an interactive self-contained HTML page",
        description=(
            "One row per configuration (backend / model / format / quantization; its runs pooled unless two "
            "measured the same cell, which are kept apart and said so): short-form WER, sequential and chunked "
            "long-form WER, latency relative to a reference row, RTFx, p50/p90 latency, load time, peak memory; "
            "a per-cell table; the environment of every run. Writes report.md with wer_vs_rtfx.png (per "
            "algorithm), longform.png (sequential against chunked) and latency.png beside it, and report.html "
            "(sortable, filterable tables and interactive charts, everything inline: works offline) into "
            "--output-dir, and prints the Markdown."
        ),
    )
    p.add_argument("results", nargs="+", help="results files or folders (JSON Lines), or baseline names")
    p.add_argument("--output-dir", "-o",
                   help="where to write the report (default: results/reports/report-TIME)")
    p.add_argument("--reference", "-r",
                   help="reference row for relative latency: a 1-based row number, field=value[,field=value] "
                        "(e.g. backend=ctranslate2,quantization=int8), or text in its label (default: row 1)")
    p.add_argument("--title", help="report title")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots (report.html keeps its charts)")
    p.add_argument("--quiet", "-q", action="store_true", help="do not print the Markdown")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from whisperbench.bench.baseline import resolve_results
    from whisperbench.bench.report import write_report
    from whisperbench.paths import results_dir

    paths = [resolve_results(r)[0] for r in args.results]
    out = Path(args.output_dir) if args.output_dir else (
        results_dir() / "reports" / f"report-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    from whisperbench.bench.scenarios.summary import write_section
    from whisperbench.bench.store import read_records

    scenarios = write_section(paths, out)  # scenario rows: scenarios.md and its throughput-vs-latency plot
    if scenarios and not read_records(paths, kinds=["measurement", "failure"]):
        if not args.quiet:
            print(scenarios["scenarios_md"].read_text(encoding="utf-8"))
        print("wrote " + ", ".join(str(p) for p in scenarios.values()), file=sys.stderr)
        return 0
    report, written = write_report(paths, out, reference=args.reference, title=args.title, plots=not args.no_plots)
    written = {**written, **scenarios}
    if not args.quiet:
        print(report.markdown())
        if scenarios:
            print("\n" + scenarios["scenarios_md"].read_text(encoding="utf-8"))
    print("wrote " + ", ".join(str(p) for p in written.values()), file=sys.stderr)
    return 0
