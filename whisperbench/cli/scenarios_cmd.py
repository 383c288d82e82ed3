"""`whisperbench scenarios SUITE` (its `[[scenarios]]`) and the quick form
`whisperbench scenarios -b B -m M -d D --scenario offline --batch-sizes 1,2,4`."""

from __future__ import annotations

import argparse
import sys

from whisperbench.cli.common import add_decode_args, add_model_args
from whisperbench.errors import WhisperbenchError
from whisperbench.files import output_file


def _numbers(kind, what: str):
    def parse(value: str):
        try:
            return [kind(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what}: comma-separated numbers, got {value!r}") from None
    return parse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scenarios",
        help="deployment scenarios with MLPerf LoadGen: Offline throughput by batch size, Server latency under load",
        description=(
            "Run MLPerf LoadGen's Offline scenario (the whole dataset issued at once; throughput and latency per "
            "batch size) and Server scenario (Poisson arrivals into --instances model instances, or one batching "
            "dynamically; latency p50/p90/p99 with queueing and queue wait apart; the highest rate whose "
            "percentile latency meets --target-latency). Scenarios come from a suite file's [[scenarios]] or the "
            "flags below. Rows (record 'scenario') go to --output (default results/scenarios-SUITE-TIME.jsonl); "
            "`report`, `compare` and `recommend --rate` read them. Energy is read from RAPL / NVML where readable."
        ),
    )
    p.add_argument("suite", nargs="?", help="suite TOML file with [[scenarios]], or a packaged suite name")
    add_model_args(p, backend_required=False)
    add_decode_args(p)
    q = p.add_argument_group("quick form")
    q.add_argument("--dataset", "-d", action="append", default=[], help="as `bench --dataset` (repeatable)")
    q.add_argument("--split", help="split of an HF or LibriSpeech dataset")
    q.add_argument("--limit", type=int, help="first N utterances of each dataset")
    s = p.add_argument_group("scenarios (the quick form, or a suite without [[scenarios]])")
    s.add_argument("--scenario", action="append", choices=("offline", "server"), default=[],
                   help="a scenario to run (repeatable)")
    s.add_argument("--batch-sizes", type=_numbers(int, "--batch-sizes"), metavar="N,N",
                   help="offline: the sweep (default 1,2,4,8); server: one size, the dynamic batching limit")
    s.add_argument("--instances", type=int, help="server: model instances (default 1)")
    s.add_argument("--batch-timeout-ms", type=float, help="server: how long an idle instance waits for a batch")
    s.add_argument("--rates", type=_numbers(float, "--rates"), metavar="Q,Q", help="server: arrival rates (q/s) to measure")
    s.add_argument("--no-find-max-rate", action="store_true", help="server: measure --rates only, no rate search")
    s.add_argument("--target-latency", type=float, metavar="S", help="server: latency target in seconds (default 2)")
    s.add_argument("--percentile", type=float, help="server: latency percentile of the target (default 90)")
    s.add_argument("--queries", type=int, help="samples per run (offline default: the dataset once; server: 100)")
    s.add_argument("--search-steps", type=int, help="server: LoadGen runs the rate search may use (default 6)")
    s.add_argument("--repeats", type=int, help="offline: runs per batch size (default 1)")
    r = p.add_argument_group("run")
    r.add_argument("--price-per-hour", type=float, metavar="USD",
                   help="the machine's price per hour: rows then say dollars per audio hour")
    r.add_argument("--output", "-o", help="results file (JSON Lines); default under results/")
    r.add_argument("--resume", action="store_true",
                   help="continue --output (its run), skipping the points it holds (as `bench --resume`)")
    r.add_argument("--retry-failed", action="store_true", help="with --resume: run failed scenarios again")
    r.add_argument("--quiet", "-q", action="store_true", help="no progress bar or table")
    p.set_defaults(func=run)


def quick_specs(args: argparse.Namespace):
    from whisperbench.bench.scenarios.spec import parse_all

    tables = []
    for kind in args.scenario:
        t = {"kind": kind}
        for flag, key in (("instances", "instances"), ("batch_timeout_ms", "batch_timeout_ms"), ("rates", "rates"),
                          ("target_latency", "target_latency_s"), ("percentile", "percentile"),
                          ("queries", "queries"), ("search_steps", "search_steps"), ("repeats", "repeats")):
            value = getattr(args, flag)
            if value is not None and (kind == "server" or key in ("queries", "repeats")):
                t[key] = value
        if args.batch_sizes:
            t["batch_sizes"] = args.batch_sizes
        if kind == "server" and args.no_find_max_rate:
            t["find_max_rate"] = False
        tables.append(t)
    return parse_all(tables)


def suite_specs(suite) -> list:
    """A suite's `[[scenarios]]`, parsed and checked against its cells (exit 2 before anything runs)."""
    from whisperbench.bench.scenarios.run import validate
    from whisperbench.bench.scenarios.spec import parse_all

    specs = parse_all(suite.definition["scenarios"]) if suite.definition.get("scenarios") else []
    validate(suite, specs)
    return specs


def check_price(price: float | None) -> None:
    if price is not None and price < 0:
        raise WhisperbenchError("--price-per-hour must be >= 0")


def build(args: argparse.Namespace):
    from whisperbench.cli.bench_cmd import build as build_suite

    # The suite's engines, datasets and decoding options; its repeats and limits are the suite runner's.
    suite = build_suite(argparse.Namespace(**{**vars(args), "repeats": None, "warmups": None, "timeout_s": None,
                                              "max_memory_mb": None, "longform_seconds": None}))
    specs = quick_specs(args) if args.scenario else suite_specs(suite)
    if not specs:
        raise WhisperbenchError("no scenarios: give --scenario offline|server, or a suite with [[scenarios]]")
    return suite, specs


def print_report(report, quiet: bool) -> None:
    """The run's scenario table (unless `quiet`) and one summary line."""
    from whisperbench.bench.scenarios.records import read_scenario_rows
    from whisperbench.bench.scenarios.summary import markdown

    if not quiet:
        rows = [r for r in read_scenario_rows(report.output) if r.get("run_id") == report.run_id]
        print(markdown(rows))
    print(f"{report.rows} scenario rows, {report.failures} failed, {report.wall_seconds:.1f} s -> {report.output}")


def run(args: argparse.Namespace) -> int:
    from whisperbench.bench.scenarios.run import run_scenarios

    if args.output:
        output_file(args.output, "results file")
    if args.resume and not args.output:
        raise WhisperbenchError("--resume continues the results file given with --output")
    if args.retry_failed and not args.resume:
        raise WhisperbenchError("--retry-failed goes with --resume")
    check_price(args.price_per_hour)
    suite, specs = build(args)
    try:
        report = run_scenarios(suite, specs, args.output, price_per_hour=args.price_per_hour, quiet=args.quiet,
                               resume=args.resume, retry_failed=args.retry_failed)
    except KeyboardInterrupt:
        print("whisperbench: interrupted; measured rows are saved (continue with --resume)", file=sys.stderr)
        return 130
    print_report(report, args.quiet)
    return 1 if report.failures else 0
