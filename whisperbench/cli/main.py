"""Entry point. Each command module provides `register(subparsers)`, which adds its parser
and sets `func(args) -> int`.

Errors are handled here, once for every command: a `WhisperbenchError` (usage or input)
prints one line and exits 2; any other exception (a failure during work) prints one line
naming it and exits 1 -- or the command's `failure_exit` default, e.g. 2 for `compare`,
whose exit 1 means a regression. `--debug` (before or after the command) adds the
traceback. No command catches errors just to print them."""

from __future__ import annotations

import argparse
import importlib
import sys

from whisperbench import __version__
from whisperbench.cli.common import print_error

# Command modules, in the order `whisperbench --help` lists them.
COMMAND_MODULES = [
    "whisperbench.cli.backends_cmd",
    "whisperbench.cli.transcribe_cmd",
    "whisperbench.cli.bench_cmd",
    "whisperbench.cli.scenarios_cmd",
    "whisperbench.cli.serve_cmd",
    "whisperbench.cli.report_cmd",
    "whisperbench.cli.history_cmd",
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
    _add_debug(parser, default=False)
    return parser


def _add_debug(parser: argparse.ArgumentParser, default: object) -> None:
    """`--debug` on the top parser and on every (sub)command, so it may follow the command;
    below the top its default is SUPPRESS, so an absent flag does not reset a given one."""
    parser.add_argument("--debug", action="store_true", default=default,
                        help="on an error, print the Python traceback too")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _add_debug(child, default=argparse.SUPPRESS)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("whisperbench: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        return print_error(exc, debug=args.debug, failure_exit=getattr(args, "failure_exit", 1))


if __name__ == "__main__":
    sys.exit(main())
