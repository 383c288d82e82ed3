"""Deployment-scenario figures (issue 17): Offline throughput at batch 1/2/4/8 and the Server
rate holding p90 <= 2 s, for ctranslate2 int8 and transformers on this CPU, over the shared
short-form set (the default suite's librispeech, librivox and jfk), through MLPerf LoadGen.

    .venv/bin/python benchmarks/bench_scenarios.py [--output results/scenarios-figures.jsonl] [--queries 40]

Prints the scenario table (with energy per audio hour where RAPL is readable, and why not
where it is not) and writes the rows to --output. Timings on a machine other processes load
are marked in the table's `loaded` column.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from whisperbench.bench.scenarios.records import read_scenario_rows
from whisperbench.bench.scenarios.run import run_scenarios
from whisperbench.bench.scenarios.spec import parse_all
from whisperbench.bench.scenarios.summary import markdown, write_section
from whisperbench.bench.suite import build_suite, default_suite_path, load_suite

ENGINES = [
    {"backend": "ctranslate2", "model": "fixture:tiny.en", "compute_type": "int8"},
    {"backend": "transformers", "model": "fixture:tiny.en", "compute_type": "float32"},
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", default="results/scenarios-figures.jsonl")
    ap.add_argument("--queries", type=int, default=40, help="queries per Server rate")
    ap.add_argument("--search-steps", type=int, default=6)
    ap.add_argument("--dataset", action="append", default=[],
                    help="only these of the default suite's short-form datasets (default: all)")
    ap.add_argument("--report-dir", default="results/reports/scenarios-figures")
    args = ap.parse_args(argv)
    default = load_suite(default_suite_path())
    # The short-form speech (not the generated non-speech cell, which has no WER to trade).
    short = [c.dataset.spec for c in default.cells if c.options.algorithm == "short" and c.dataset.spec.perturb is None]
    datasets = {s.name: {"name": s.name, "kind": s.kind, "path": s.path, "algorithms": ["short"]} for s in short
                if not args.dataset or s.name in args.dataset}
    suite = build_suite({"name": "scenario-figures", "decode": {"language": "en"}, "engines": ENGINES,
                         "datasets": list(datasets.values())}, base_dir=Path.cwd())
    specs = parse_all([
        {"kind": "offline", "batch_sizes": [1, 2, 4, 8]},
        {"kind": "server", "target_latency_s": 2.0, "percentile": 90, "queries": args.queries,
         "search_steps": args.search_steps},
    ])
    report = run_scenarios(suite, specs, args.output)
    rows = [r for r in read_scenario_rows(report.output) if r.get("run_id") == report.run_id]
    print(markdown(rows))
    print(write_section(report.output, args.report_dir))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
