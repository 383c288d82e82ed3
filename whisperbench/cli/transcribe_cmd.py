"""`whisperbench transcribe AUDIO...`."""

from __future__ import annotations

import argparse
import os
import sys

from whisperbench import backends
from whisperbench.backends.base import VERBOSE_ENV
from whisperbench.cli.common import add_decode_args, add_model_args, decode_options, load_options, print_error
from whisperbench.files import input_file, output_file, write_text_atomic
from whisperbench.output import FORMATS, render
from whisperbench.results import Transcription


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transcribe", help="transcribe audio files with one backend")
    p.add_argument("audio", nargs="+", help="audio files (anything FFmpeg decodes)")
    add_model_args(p)
    add_decode_args(p)
    p.add_argument("--format", "-f", choices=FORMATS, default="text")
    p.add_argument("--output", "-o", help="write here instead of standard output")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="let the runtime print its own logs and progress bars to stderr (silenced by default)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Each file is transcribed on its own: a file that fails is reported on one line and the
    others go on; every finished result is kept (with --output, the file is rewritten after
    each one). Exit 0 when all succeeded, 1 when some failed, the error's own code (2 for bad
    input) when none did."""
    if args.verbose:
        os.environ[VERBOSE_ENV] = "1"
    options = decode_options(args)
    cls = backends.get(args.backend)
    cls.check_options(options)  # fail before the (slow) model load
    for path in args.audio:
        input_file(path, "audio file")
    out = output_file(args.output) if args.output else None  # before any decoding
    done: list[tuple[str, Transcription]] = []
    codes: list[int] = []
    try:
        with cls(args.model, load_options(args)) as backend:
            for path in args.audio:
                try:
                    done.append((path, backend.transcribe(path, options)))
                except Exception as exc:
                    named = str(path) in str(exc)
                    codes.append(print_error(exc, debug=args.debug, context="" if named else str(path)))
                    continue
                if out is not None:
                    write_text_atomic(out, render(done, args.format))
    finally:
        if out is None and done:
            sys.stdout.write(render(done, args.format))
    if codes and len(args.audio) > 1:
        kept = f"; {len(done)} finished transcript(s) {f'kept in {out}' if out else 'printed'}" if done else ""
        print(f"whisperbench: error: {len(codes)} of {len(args.audio)} files failed (listed above){kept}",
              file=sys.stderr)
    if not codes:
        return 0
    return 1 if done else max(codes)
