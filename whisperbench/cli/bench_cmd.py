"""`whisperbench bench SUITE` and the quick form `whisperbench bench --backend B --model M --dataset D`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from whisperbench.cli.common import add_decode_args, add_model_args, decode_options, load_options
from whisperbench.errors import WhisperbenchError
from whisperbench.files import output_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="run a benchmark suite (or one quick cell) and store every measurement",
        description=(
            "Run a suite file (or a packaged suite name such as 'default'), or the quick form "
            "--backend B --model M --dataset D [--dataset D2 ...]. Results are appended to a JSON Lines "
            "file (default: results/bench-SUITE-TIME.jsonl) one row per utterance and repeat."
        ),
    )
    p.add_argument("suite", nargs="?", help="suite TOML file, or a packaged suite name (default)")
    add_model_args(p, backend_required=False)
    add_decode_args(p)
    q = p.add_argument_group("quick form")
    q.add_argument("--dataset", "-d", action="append", default=[],
                   help="a default-suite dataset name (librispeech, librivox, jfk, sonnets), a LibriSpeech folder, "
                        "a .jsonl manifest, a saved HF dataset folder, or hf:NAME[:CONFIG] (repeatable)")
    q.add_argument("--split", help="split of an HF or LibriSpeech dataset")
    q.add_argument("--limit", type=int, help="first N utterances of each dataset")
    q.add_argument("--longform-seconds", type=float,
                   help="concatenate consecutive utterances into items of at least this many seconds")
    r = p.add_argument_group("run")
    r.add_argument("--repeats", type=int, help="measured passes (overrides the suite)")
    r.add_argument("--warmups", type=int, help="warm-up decodes per cell (overrides the suite)")
    r.add_argument("--timeout", type=float, dest="timeout_s", help="kill a cell silent for this many seconds")
    r.add_argument("--max-memory-mb", type=float, help="kill a cell whose RSS exceeds this")
    r.add_argument("--output", "-o", help="results file (JSON Lines); default under results/")
    r.add_argument("--resume", action="store_true",
                   help="continue --output (default: the newest results file of this suite), skipping what is measured")
    r.add_argument("--retry-failed", action="store_true", help="with --resume: run failed cells again")
    r.add_argument("--no-scenarios", action="store_true",
                   help="skip the suite's [[scenarios]] (by default they run after its cells, on this machine, into "
                        "the same results file; see `whisperbench scenarios`)")
    r.add_argument("--price-per-hour", type=float, metavar="USD",
                   help="the machine's price per hour: scenario rows then say dollars per audio hour")
    r.add_argument("--quiet", "-q", action="store_true", help="no progress bars or summary table (CI)")
    r.add_argument("--dry-run", action="store_true",
                   help="validate the suite (datasets indexed, every cell checked) and list its cells; run nothing")
    r.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where cells run: local (one at a time here, the default) or ray (each cell a Ray task on a "
                        "cluster; see examples/ray)")
    r.add_argument("--address", help="with --executor ray: the cluster to join (e.g. auto, or HOST:6379); "
                                     "default: RAY_ADDRESS, else a local Ray instance")
    # Architecture timing with random weights (whisperbench.bench.synthetic; also `whisperbench synthetic`).
    from whisperbench.cli.synthetic_cmd import add_synthetic_args

    p.add_argument("--synthetic", action="append", default=[], metavar="ARCH",
                   help="time this architecture (tiny ... large-v3, distil-large-v3, or a dimensions file) with random "
                        "weights instead of a suite (repeatable; --backend/--compute-type may be comma lists)")
    add_synthetic_args(p)
    p.set_defaults(func=run)


def build(args: argparse.Namespace):
    from whisperbench.bench.suite import build_suite, load_suite, quick_dataset

    overrides = dict(repeats=args.repeats, warmups=args.warmups, timeout_s=args.timeout_s,
                     max_memory_mb=args.max_memory_mb)
    devices_here = getattr(args, "executor", "local") == "local"  # Ray nodes check their own devices
    if args.suite:
        if args.backend or args.model or args.dataset:
            raise WhisperbenchError("give either a SUITE file or --backend/--model/--dataset, not both")
        return load_suite(args.suite, devices_here=devices_here, **overrides)
    if not (args.backend and args.model and args.dataset):
        raise WhisperbenchError("give a SUITE file (e.g. 'default'), or --backend, --model and --dataset")
    opts = decode_options(args).to_dict()
    algorithm = opts.pop("algorithm")
    lo = load_options(args)
    datasets = []
    for value in args.dataset:
        d = quick_dataset(value, args.split)
        d["algorithms"] = [algorithm]
        if args.limit is not None:
            d["limit"] = args.limit
        if args.longform_seconds:
            d["longform"] = {"target_seconds": args.longform_seconds}
        datasets.append(d)
    data = {
        "name": f"quick-{args.backend}",
        "decode": opts,
        "engines": [{"backend": args.backend, "model": args.model, "compute_type": lo.compute_type,
                     "device": lo.device, "threads": lo.threads, "extra": dict(lo.extra)}],
        "datasets": datasets,
    }
    return build_suite(data, base_dir=Path.cwd(), source="<command line>", devices_here=devices_here, **overrides)


def run(args: argparse.Namespace) -> int:
    from whisperbench.bench import read_results, summarize
    from whisperbench.bench.runner import run_suite

    if args.synthetic:
        if args.executor != "local" or args.address:
            raise WhisperbenchError("--executor/--address go with a suite, not --synthetic")
        from whisperbench.cli.synthetic_cmd import run_from_bench

        return run_from_bench(args)
    if args.retry_failed and not args.resume:
        raise WhisperbenchError("--retry-failed goes with --resume")
    from whisperbench.bench import executors

    executor = executors.get(args.executor, address=args.address)
    if args.output:
        output_file(args.output, "results file")  # before the datasets are read and hashed
    suite = build(args)
    from whisperbench.cli import scenarios_cmd

    scenarios_cmd.check_price(args.price_per_hour)
    scenario_specs = [] if args.no_scenarios else scenarios_cmd.suite_specs(suite)
    if args.dry_run:
        print(f"suite {suite.name}: {len(suite.cells)} cells, {suite.repeats} repeat(s), {suite.warmups} warm-up(s) "
              f"({suite.source})")
        for cell in suite.cells:
            print(f"  {cell.label}: {len(cell.dataset)} item(s)")
        return 0
    try:
        report = run_suite(suite, args.output, resume=args.resume, retry_failed=args.retry_failed, quiet=args.quiet,
                           executor=executor)
        scenarios = None
        if scenario_specs:  # after the cells: the same file and run, resumed point by point
            from whisperbench.bench.scenarios.run import run_scenarios

            scenarios = run_scenarios(suite, scenario_specs, report.output, price_per_hour=args.price_per_hour,
                                      quiet=args.quiet, resume=True, retry_failed=args.retry_failed)
    except KeyboardInterrupt:
        print("whisperbench: interrupted; measured rows are saved (continue with --resume)", file=sys.stderr)
        return 130
    df = read_results(report.output)
    if not args.quiet and not df.empty:
        summary = summarize(df[df["run_id"] == report.run_id])
        cols = [c for c in ("dataset", "algorithm", "backend", "quantization", "n_rows", "n_failed", "wer", "cer",
                            "latency_p50_s", "latency_p90_s", "rtfx", "timing_cv", "loaded", "load_seconds",
                            "peak_rss_mb", "status")
                if c in summary]
        import pandas as pd

        with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4g}".format):
            print(summary[cols].to_string(index=False))
    print(f"{report.rows_written} rows, {report.failures} failures, {report.cells_run} cells run, "
          f"{report.cells_skipped} skipped, {report.wall_seconds:.1f} s -> {report.output}")
    if scenarios is not None:
        scenarios_cmd.print_report(scenarios, args.quiet)
    return 1 if report.failures or (scenarios and scenarios.failures) else 0
