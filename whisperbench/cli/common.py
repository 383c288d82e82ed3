"""Argument groups shared by commands, so each option is declared once."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from typing import Any

from whisperbench.errors import WhisperbenchError
from whisperbench.options import ALGORITHMS, VADS, DecodeOptions, LoadOptions


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


def add_decode_args(parser: argparse.ArgumentParser) -> None:
    d = DecodeOptions()
    g = parser.add_argument_group("decoding (same meaning in every backend)")
    g.add_argument("--algorithm", choices=ALGORITHMS, default=d.algorithm)
    g.add_argument("--language", default=d.language, help="language code; omit to detect")
    g.add_argument("--task", choices=("transcribe", "translate"), default=d.task)
    g.add_argument("--beam-size", type=int, default=d.beam_size)
    g.add_argument("--best-of", type=int, default=d.best_of)
    g.add_argument(
        "--temperatures", default=",".join(f"{t:g}" for t in d.temperatures),
        help="fallback temperatures, comma-separated (e.g. 0,0.2,0.4,0.6,0.8,1)",
    )
    g.add_argument("--condition-on-previous-text", action=argparse.BooleanOptionalAction, default=d.condition_on_previous_text)
    g.add_argument("--compression-ratio-threshold", type=_optional_float, default=d.compression_ratio_threshold)
    g.add_argument("--logprob-threshold", type=_optional_float, default=d.logprob_threshold)
    g.add_argument("--no-speech-threshold", type=_optional_float, default=d.no_speech_threshold)
    g.add_argument("--timestamps", action=argparse.BooleanOptionalAction, default=d.timestamps)
    g.add_argument("--word-timestamps", action=argparse.BooleanOptionalAction, default=d.word_timestamps)
    g.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens)
    g.add_argument("--chunk-length", type=float, default=d.chunk_length_s, dest="chunk_length_s")
    g.add_argument("--batch-size", type=int, default=d.batch_size)
    g.add_argument("--vad", choices=VADS, default=d.vad,
                   help="voice-activity detection: silero (whisperbench's, every backend) or runtime (the runtime's own)")
    g.add_argument("--vad-threshold", type=float, default=d.vad_threshold)
    g.add_argument("--vad-min-silence-ms", type=int, default=d.vad_min_silence_ms)
    g.add_argument("--vad-speech-pad-ms", type=int, default=d.vad_speech_pad_ms)


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


def _optional_float(value: str) -> float | None:
    return None if value.lower() in ("none", "off") else float(value)


def decode_options(args: argparse.Namespace) -> DecodeOptions:
    try:
        temps = tuple(float(t) for t in str(args.temperatures).split(",") if t.strip())
    except ValueError:
        raise WhisperbenchError(f"--temperatures must be comma-separated numbers, got {args.temperatures!r}") from None
    return DecodeOptions(
        algorithm=args.algorithm,
        language=args.language,
        task=args.task,
        beam_size=args.beam_size,
        best_of=args.best_of,
        temperatures=temps,
        condition_on_previous_text=args.condition_on_previous_text,
        compression_ratio_threshold=args.compression_ratio_threshold,
        logprob_threshold=args.logprob_threshold,
        no_speech_threshold=args.no_speech_threshold,
        timestamps=args.timestamps,
        word_timestamps=args.word_timestamps,
        max_new_tokens=args.max_new_tokens,
        chunk_length_s=args.chunk_length_s,
        batch_size=args.batch_size,
        vad=args.vad,
        vad_threshold=args.vad_threshold,
        vad_min_silence_ms=args.vad_min_silence_ms,
        vad_speech_pad_ms=args.vad_speech_pad_ms,
    )


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
