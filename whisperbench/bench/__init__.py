"""Benchmark harness: datasets, suites, metrics, an append-only results store, and a
runner that isolates each cell in its own subprocess.

    from whisperbench.bench import load_suite, run_suite, read_results, summarize
    report = run_suite(load_suite("default"), "results/default.jsonl")
    df = read_results(report.output)
    print(summarize(df))
"""

from whisperbench.bench.store import (  # noqa: F401
    SCHEMA_VERSION,
    TIMING_COLUMNS,
    ResultWriter,
    read_records,
    read_results,
    read_runs,
    summarize,
    utterance_latency,
    write,
)


def load_suite(*args, **kwargs):
    from whisperbench.bench.suite import load_suite as _load

    return _load(*args, **kwargs)


def run_suite(*args, **kwargs):
    from whisperbench.bench.runner import run_suite as _run

    return _run(*args, **kwargs)
