"""Entry point. Each command module provides `register(subparsers)`, which adds its parser
and sets `func(args) -> int`. User errors print one line and exit 2; no traceback."""

from __future__ import annotations

import argparse
import importlib
import sys

from whisperbench import __version__
from whisperbench.errors import WhisperbenchError

# Command modules, in the order `whisperbench --help` lists them.
COMMAND_MODULES = [
    "whisperbench.cli.backends_cmd",
    "whisperbench.cli.transcribe_cmd",
    "whisperbench.cli.bench_cmd",
    "whisperbench.cli.report_cmd",
    "whisperbench.cli.compare_cmd",
    "whisperbench.cli.baseline_cmd",
    "whisperbench.cli.recommend_cmd",
    "whisperbench.cli.synthetic_cmd",
    "whisperbench.cli.convert_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whisperbench", description="Every major Whisper runtime behind one interface, measured honestly."
    )
    parser.add_argument("--version", action="version", version=f"whisperbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except WhisperbenchError as exc:
        print(f"whisperbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("whisperbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
