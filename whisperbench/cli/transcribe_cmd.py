"""`whisperbench transcribe AUDIO...`."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from whisperbench import backends
from whisperbench.cli.common import add_decode_args, add_model_args, decode_options, load_options
from whisperbench.errors import WhisperbenchError
from whisperbench.output import FORMATS, render


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transcribe", help="transcribe audio files with one backend")
    p.add_argument("audio", nargs="+", help="audio files (anything FFmpeg decodes)")
    add_model_args(p)
    add_decode_args(p)
    p.add_argument("--format", "-f", choices=FORMATS, default="text")
    p.add_argument("--output", "-o", help="write here instead of standard output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    options = decode_options(args)
    cls = backends.get(args.backend)
    cls.check_options(options)  # fail before the (slow) model load
    for path in args.audio:
        if not Path(path).is_file():
            raise WhisperbenchError(f"audio file not found: {path}")
    with cls(args.model, load_options(args)) as backend:
        results = [(path, backend.transcribe(path, options)) for path in args.audio]
    text = render(results, args.format)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, out)
    else:
        sys.stdout.write(text)
    return 0
