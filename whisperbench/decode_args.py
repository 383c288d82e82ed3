"""The decoding options as command-line arguments, declared once: the CLI's commands add
them to their parsers (`add_decode_args`), and `whisperbench serve` parses an HTTP request's
form fields with the same parser (`decode_options_from_fields`), so a value means the same
thing and is refused with the same message in both."""

from __future__ import annotations

import argparse
from typing import Mapping

from whisperbench.errors import WhisperbenchError
from whisperbench.options import ALGORITHMS, VADS, DecodeOptions


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
    g.add_argument("--initial-prompt", metavar="TEXT", default=d.initial_prompt,
                   help="text given to the decoder as previous context (vocabulary, spelling, style): the first "
                        "window, or every chunk with --algorithm chunked")


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
        initial_prompt=args.initial_prompt,
    )


# ----- the same arguments as named fields (an HTTP form) -----------------------------------

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


class _RaisingParser(argparse.ArgumentParser):
    """argparse that raises its message instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise WhisperbenchError(message)


def _field_actions() -> tuple[argparse.ArgumentParser, dict[str, argparse.Action]]:
    parser = _RaisingParser(prog="whisperbench", add_help=False)
    add_decode_args(parser)
    return parser, {a.dest: a for a in parser._actions if a.option_strings}


def decode_field_names() -> tuple[str, ...]:
    """The field names `decode_options_from_fields` takes: the DecodeOptions field each
    argument sets (`beam_size` for --beam-size)."""
    return tuple(_field_actions()[1])


def decode_options_from_fields(fields: Mapping[str, str]) -> DecodeOptions:
    """DecodeOptions from named string values (`{"beam_size": "5"}`), parsed by the CLI's own
    arguments: the same types, choices and messages as `--beam-size 5`. Booleans take
    true/false (1/0, yes/no, on/off)."""
    parser, actions = _field_actions()
    argv: list[str] = []
    for name, value in fields.items():
        action = actions.get(name)
        if action is None:
            raise WhisperbenchError(f"unknown decoding option {name!r}; valid: {', '.join(sorted(actions))}")
        flag = action.option_strings[0]
        if isinstance(action, argparse.BooleanOptionalAction):
            word = str(value).strip().lower()
            if word not in TRUE_WORDS + FALSE_WORDS:
                raise WhisperbenchError(f"argument {flag}: expected true or false, got {value!r}")
            argv.append(flag if word in TRUE_WORDS else action.option_strings[1])
        else:
            argv.append(f"{flag}={value}")  # '=': a value such as -1.5 is not read as an option
    return decode_options(parser.parse_args(argv))
