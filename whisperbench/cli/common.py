"""Argument groups shared by commands, so each option is declared once."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from typing import Any

from whisperbench.decode_args import add_decode_args, decode_options  # noqa: F401  (declared in core, re-exported)
from whisperbench.errors import WhisperbenchError
from whisperbench.options import LoadOptions


def add_model_args(parser: argparse.ArgumentParser, *, backend_required: bool = True) -> None:
    g = parser.add_argument_group("model")
    g.add_argument("--backend", "-b", required=backend_required, help="backend name (see `whisperbench backends`)")
    g.add_argument(
        "--model", "-m", required=backend_required,
        help="fixture:tiny.en, a local model folder/file, or a hub model id",
    )
    g.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default: cpu)")
    g.add_argument("--compute-type", default="default", help="what the runtime computes in (e.g. int8, float16), as the backend names it; default: the backend's choice")
    g.add_argument("--threads", type=int, default=0, help="CPU threads (0: the runtime's default)")
    g.add_argument(
        "--backend-option", "-O", action="append", default=[], metavar="KEY=VALUE",
        help="backend-specific load option (repeatable); values are parsed as JSON when possible",
    )


def add_gate_args(parser: argparse.ArgumentParser) -> None:
    """`compare`'s gates and intervals (also what `history` marks regressions with)."""
    from whisperbench.bench.compare import DEFAULT_BOOTSTRAP, DEFAULT_MAX_SLOWDOWN, DEFAULT_MAX_WER_INCREASE
    from whisperbench.bench.noise import DEFAULT_RUN_NOISE

    parser.add_argument("--max-wer-increase", type=float, default=DEFAULT_MAX_WER_INCREASE, metavar="POINTS",
                        help=f"allowed WER increase in absolute points (default {DEFAULT_MAX_WER_INCREASE:g})")
    parser.add_argument("--max-slowdown", type=float, default=DEFAULT_MAX_SLOWDOWN, metavar="RATIO",
                        help=f"allowed latency ratio candidate/baseline (default {DEFAULT_MAX_SLOWDOWN:g})")
    parser.add_argument("--run-noise", type=float, default=DEFAULT_RUN_NOISE, metavar="SD",
                        help="run-to-run noise of a run's total latency (log standard deviation, e.g. 0.05 for 5%%) "
                             "assumed when neither side has several runs of a cell; several runs (e.g. `baseline "
                             f"save NAME r1 r2 r3`) measure it instead (default {DEFAULT_RUN_NOISE:g})")
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_BOOTSTRAP, metavar="N", help="bootstrap resamples")


def check_bootstrap(args: argparse.Namespace) -> None:
    if args.bootstrap < 100:
        raise WhisperbenchError("--bootstrap must be at least 100")


def parse_key_values(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise WhisperbenchError(f"expected KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def load_options(args: argparse.Namespace) -> LoadOptions:
    return LoadOptions(
        device=args.device, compute_type=args.compute_type, threads=args.threads,
        extra=parse_key_values(args.backend_option),
    )


def error_line(exc: BaseException) -> str:
    """One line saying what went wrong: a `WhisperbenchError`'s message as is (it says what
    to do); anything else named by its type, with the way to see the traceback."""
    if isinstance(exc, WhisperbenchError):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        text = f"{exc.strerror}{where} (rerun with --debug for the traceback)"
    else:
        text = f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
    return " ".join(text.split())


def print_error(exc: BaseException, *, debug: bool = False, failure_exit: int = 1, context: str = "") -> int:
    """Print `whisperbench: error: [context: ]LINE` (after the traceback with --debug) and
    return the exit code: 2 for a usage or input error, `failure_exit` for anything else."""
    if debug:
        traceback.print_exception(exc)
    print(f"whisperbench: error: {context + ': ' if context else ''}{error_line(exc)}", file=sys.stderr, flush=True)
    return 2 if isinstance(exc, WhisperbenchError) else failure_exit
