"""`whisperbench convert SRC --to FORMAT --output PATH` and `whisperbench verify A B --audio FILE...`."""

from __future__ import annotations

import argparse
import json
import sys

from whisperbench.conversion import formats
from whisperbench.errors import WhisperbenchError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert a Whisper model between weight formats (with quantization)")
    p.add_argument("src", help="model folder/file in any supported format, or fixture:NAME")
    everything = formats.all_formats()
    p.add_argument("--to", required=True, choices=formats.names(), help="target format")
    p.add_argument(
        "--output", "-o", required=True,
        help=f"output folder ({', '.join(f.name for f in everything if f.is_folder)}) "
        f"or file ({', '.join(f.name for f in everything if not f.is_folder)})",
    )
    p.add_argument(
        "--quantization", "-q",
        help="how the weights are stored: " + "; ".join(f"{f.name} {'|'.join(f.quantizations)}" for f in everything)
        + " (f16/fp32 spellings accepted; default: keep the source's float type)",
    )
    p.add_argument(
        "--decoder-layers", metavar="N|I,J,...",
        help="derive a distilled student: keep N maximally spaced decoder layers (first and last kept) "
        "or exactly these layer indices",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument(
        "--quiet", action="store_true",
        help="no progress bars (otherwise shown on a terminal for checkpoints over 200 MB; "
        "WHISPERBENCH_QUIET=1 does the same)",
    )
    p.set_defaults(func=run_convert)

    v = sub.add_parser("verify", help="decode audio with two models in their own runtimes and compare tokens")
    v.add_argument("model_a", help="reference model (path or fixture:NAME)")
    v.add_argument("model_b", help="model to check against it")
    v.add_argument("--audio", nargs="+", required=True, help="audio files (each at most 30 s)")
    v.add_argument("--language", default="en", help="language code, or 'auto' to detect (default: en)")
    v.add_argument("--backend-a", help="override the backend for model A (default: from its format)")
    v.add_argument("--backend-b", help="override the backend for model B")
    v.add_argument("--timestamps", action=argparse.BooleanOptionalAction, default=True)
    v.add_argument("--json", action="store_true", help="print the full report as JSON")
    v.add_argument("--require-exact", action="store_true", help="exit 1 unless every file's tokens agree exactly")
    v.add_argument("--max-wer", type=float, help="exit 1 when WER of B against A exceeds this")
    v.set_defaults(func=run_verify)


def parse_layers(value: str | None) -> int | list[int] | None:
    if value is None:
        return None
    try:
        if "," in value:
            return [int(x) for x in value.split(",") if x.strip()]
        return int(value)
    except ValueError:
        raise WhisperbenchError(f"--decoder-layers takes a count or comma-separated indices, got {value!r}") from None


def run_convert(args: argparse.Namespace) -> int:
    import time

    from whisperbench.conversion import convert, describe

    t0 = time.perf_counter()
    out = convert(args.src, args.to, args.output, quantization=args.quantization,
                  decoder_layers=parse_layers(args.decoder_layers), force=args.force,
                  progress=False if args.quiet else None)
    info = describe(out)
    d = info["dims"]
    print(
        f"wrote {info['format']} ({info['quantization']}) to {out} in {time.perf_counter() - t0:.1f} s: "
        f"{d['n_audio_layer']}+{d['n_text_layer']} layers, d_model {d['n_audio_state']}, "
        f"{'English-only' if info['english_only'] else 'multilingual'}{', distilled' if info['distilled'] else ''}"
    )
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from whisperbench.bench.verify import verify

    language = None if args.language in ("auto", "none", "") else args.language
    report = verify(args.model_a, args.model_b, args.audio, language=language, backend_a=args.backend_a,
                    backend_b=args.backend_b, timestamps=args.timestamps)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print(f"A: {report.model_a} [{report.backend_a}]")
        print(f"B: {report.model_b} [{report.backend_b}]")
        for f in report.files:
            mark = "exact" if f.exact else f"agreement {f.token_agreement:.3f}, WER {f.wer:.3f}"
            print(f"  {f.audio}: {len(f.tokens_a)}/{len(f.tokens_b)} tokens, {mark}")
        print(
            f"exact files {report.exact_rate:.0%}, token agreement {report.token_agreement:.4f}, "
            f"WER(B vs A) {report.wer:.4f}"
        )
    failed = (args.require_exact and report.exact_rate < 1.0) or (args.max_wer is not None and report.wer > args.max_wer)
    return 1 if failed else 0
