"""What the figure scripts that run one packaged suite share: their run options (-o, --results,
--resume, -b) and the run itself, the suite's definition optionally edited first and its
cells kept to some backends.

Not a script: bench_longform.py and bench_multilingual.py import it as
`benchmarks._suite_run`, after putting the repository root on sys.path.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any, Callable, Sequence

from whisperbench.bench.runner import RunReport, run_suite
from whisperbench.bench.suite import build_suite, resolve_suite_path


def add_run_arguments(ap: argparse.ArgumentParser, default_output: Path) -> None:
    ap.add_argument("-o", "--output", type=Path, default=default_output)
    ap.add_argument("--results", type=Path, help="print the table of an existing results file; run nothing")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("-b", "--backend", action="append", help="only these backends (default: all in the suite)")


def run_packaged_suite(name: str, output: Path, *, backends: Sequence[str] | None = None, resume: bool = False,
                       edit: Callable[[dict[str, Any]], None] | None = None) -> RunReport:
    """Run the packaged suite `name` into `output`: `edit` changes its parsed definition
    first (e.g. a dataset subset); `backends` keeps only their cells. A backend the suite
    does not run is a usage error (one line, exit 2), not an empty run."""
    path = resolve_suite_path(name)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    if edit is not None:
        edit(data)
    suite = build_suite(data, base_dir=path.parent, source=str(path))
    if backends:
        known = list(dict.fromkeys(c.engine.backend for c in suite.cells))
        unknown = [b for b in backends if b not in known]
        if unknown:
            print(f"error: suite {name!r} does not run {', '.join(unknown)}; it runs: {', '.join(known)}",
                  file=sys.stderr)
            raise SystemExit(2)
        suite.cells = [c for c in suite.cells if c.engine.backend in backends]
    return run_suite(suite, output, resume=resume)
