"""Serving overhead (issue 20): ctranslate2 tiny.en int8 in-process against the same engine
behind `whisperbench serve`, measured through the openai-api client, over the shared
short-form set (the default suite's librispeech, librivox and jfk).

1. Low load: one suite with both engines (the served one `serve = true`), requests one at a
   time; the table is `report`'s serving-overhead table (p50 of per-utterance median latency,
   served / in-process, and the same over utterances of 5 s and more).
2. With --scenario: the Server scenario's max rate holding p90 <= 2 s (MLPerf LoadGen), the
   engine in-process against the same engine with `serve = true` (one server worker, one
   openai-api client instance).

    .venv/bin/python benchmarks/bench_serve.py [--repeats 3] [--scenario --queries 40]

Timings on a machine other processes load are noise; the rows carry the load (see `report`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from whisperbench.bench.report import markdown_table
from whisperbench.bench.runner import run_suite
from whisperbench.bench.served import overhead_rows
from whisperbench.bench.store import read_results
from whisperbench.bench.suite import build_suite, default_suite_path, load_suite

SHORT_FORM = ("librispeech", "librivox", "jfk")  # the shared short-form set
ENGINE = {"backend": "ctranslate2", "model": "fixture:tiny.en", "compute_type": "int8", "threads": 0}


def short_form_datasets(only: list[str]) -> list[dict]:
    default = load_suite(default_suite_path())
    short = [c.dataset.spec for c in default.cells if c.options.algorithm == "short"]
    found = {s.name: {"name": s.name, "kind": s.kind, "path": s.path, "algorithms": ["short"]} for s in short
             if s.name in only}
    return list(found.values())


def latency(args: argparse.Namespace, datasets: list[dict]) -> int:
    suite = build_suite({"name": "serve-overhead", "repeats": args.repeats, "warmups": 1, "decode": {"language": "en"},
                         "engines": [ENGINE, {**ENGINE, "serve": True}], "datasets": datasets}, base_dir=Path.cwd())
    t0 = time.perf_counter()
    report = run_suite(suite, args.output, quiet=args.quiet)
    df = read_results(report.output)
    df = df[df["run_id"] == report.run_id]
    headers, rows = overhead_rows(df)
    print(f"\n## Serving overhead at low load ({args.repeats} repeats, {time.perf_counter() - t0:.0f} s)\n")
    print(markdown_table(headers, rows))
    ok = df[df["status"] == "ok"]
    loaded = ok["others_cpu_seconds"].sum() / max(ok["load_wall_seconds"].sum(), 1e-9) if "others_cpu_seconds" in ok else None
    if loaded is not None:
        print(f"\nother processes used {loaded:.2f} CPUs on average during the timed calls (2-CPU machine)")
    return 1 if report.failures else 0


def scenario(args: argparse.Namespace, datasets: list[dict]) -> int:
    from whisperbench.bench.scenarios.records import read_scenario_rows
    from whisperbench.bench.scenarios.run import run_scenarios
    from whisperbench.bench.scenarios.spec import parse_all
    from whisperbench.bench.scenarios.summary import markdown

    specs = parse_all([{"kind": "server", "target_latency_s": 2.0, "percentile": 90, "queries": args.queries,
                        "search_steps": args.search_steps}])
    suite = build_suite({"name": "serve-scenario", "decode": {"language": "en"},
                         "engines": [ENGINE, {**ENGINE, "serve": True}], "datasets": datasets}, base_dir=Path.cwd())
    report = run_scenarios(suite, specs, args.scenario_output)
    rows = [r for r in read_scenario_rows(report.output) if r.get("run_id") == report.run_id]
    print("\n## Server scenario: in-process against served (serve = true: openai-api -> whisperbench serve)\n")
    print(markdown(rows))
    return 1 if report.failures else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    ap.add_argument("--output", default=f"results/serve-overhead-{stamp}.jsonl")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dataset", action="append", default=[],
                    help=f"the default suite's short-form datasets to use (default: {', '.join(SHORT_FORM)})")
    ap.add_argument("--scenario", action="store_true", help="also the Server scenario's max rate, both ways")
    ap.add_argument("--scenario-output", default=f"results/serve-scenario-{stamp}.jsonl")
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--search-steps", type=int, default=5)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    datasets = short_form_datasets(args.dataset or list(SHORT_FORM))
    code = 0 if args.skip_latency else latency(args, datasets)
    if args.scenario:
        code = max(code, scenario(args, datasets))
    return code


if __name__ == "__main__":
    sys.exit(main())
