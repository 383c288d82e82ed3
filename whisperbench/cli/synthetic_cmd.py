"""`whisperbench synthetic ARCH [ARCH ...]` (also `whisperbench bench --synthetic ARCH`):
architecture timing with random weights at real dimensions, at a fixed decode length."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from whisperbench.cli.common import parse_key_values
from whisperbench.errors import WhisperbenchError
from whisperbench.files import output_file, write_text_atomic


def _split(values: list[str] | str | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [v.strip() for item in values for v in str(item).split(",") if v.strip()]


def register(sub: argparse._SubParsersAction) -> None:
    from whisperbench.bench.architectures import names
    from whisperbench.bench.synthetic import default_backends

    p = sub.add_parser(
        "synthetic",
        help="time Whisper architectures with random weights (no download), per backend, at a fixed decode length",
        description=(
            "Build random weights at the real dimensions of each architecture in each runtime's format (cached), "
            "and measure encoder time, per-token decoder latency at exactly --decode-tokens tokens (end-of-text "
            "suppressed), total latency, peak memory and the memory-bandwidth roofline. Prints Markdown with the "
            f"relative-latency column for the architectures given. Architectures: {', '.join(names())}, or a "
            ".json/.toml dimensions file. Same as `whisperbench bench --synthetic ARCH`."
        ),
    )
    p.add_argument("architectures", nargs="+", metavar="ARCH", help="architecture name or dimensions file")
    add_synthetic_args(p)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: each runtime's default)")
    p.add_argument("--backend-option", "-O", action="append", default=[], metavar="KEY=VALUE",
                   help=f"options each backend's synthetic timing takes: {_option_keys()} (an option a runtime "
                        "does not take makes its rows skipped, naming it)")
    p.add_argument("--backend", "-b", action="append", default=[],
                   help="backend (repeatable or comma-separated; default: every installed one of "
                        f"{', '.join(default_backends())})")
    p.add_argument("--compute-type", action="append", default=[],
                   help="compute type (repeatable or comma-separated; default: each backend's default on the device)")
    p.add_argument("--batch-size", nargs="+", type=int, default=[1], help="batch sizes (default: 1)")
    p.set_defaults(func=run)


def _option_keys() -> str:
    """"backend: key, key; ..." for every backend with synthetic primitives (from the registry)."""
    from whisperbench import backends

    parts = []
    for name in backends.names():
        primitives = backends.synthetic_class(name)
        if primitives is not None:
            parts.append(f"{name}: {', '.join(primitives.option_help) or 'none'}")
    return "; ".join(parts)


def add_synthetic_args(p: argparse.ArgumentParser) -> None:
    """Options shared with `whisperbench bench --synthetic`."""
    from whisperbench.bench.synthetic import DEFAULT_DECODE_TOKENS

    g = p.add_argument_group("synthetic timing")
    g.add_argument("--decode-tokens", type=int, default=DEFAULT_DECODE_TOKENS,
                   help=f"tokens decoded per item, exactly (default: {DEFAULT_DECODE_TOKENS})")
    g.add_argument("--reference", help="relative latency against this architecture (default: the first given)")
    g.add_argument("--markdown", help="also write the Markdown report to this file")
    if not any(a.dest == "repeats" for a in p._actions):
        g.add_argument("--repeats", type=int, help="measured passes per cell (default: 3)")
        g.add_argument("--warmups", type=int, help="warm-up passes per cell (default: 1)")
        g.add_argument("--output", "-o", help="results file (JSON Lines); default results/synthetic-TIME.jsonl")
        g.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
        g.add_argument("--timeout", type=float, dest="timeout_s", metavar="SECONDS",
                       help="kill a cell (weights building included) after this long and record it as failed "
                            "(default: no limit)")
    g.add_argument("--in-process", action="store_true",
                   help="time every cell in this process (default: each in a process of its own, so a crash "
                        "is a failed row and memory peaks are the cell's own)")


def run(args: argparse.Namespace) -> int:
    return run_synthetic(
        architectures=args.architectures,
        backends=_split(args.backend) or None,
        device=args.device,
        compute_types=_split(args.compute_type) or ["default"],
        batch_sizes=list(args.batch_size),
        args=args,
    )


def run_from_bench(args: argparse.Namespace) -> int:
    """`whisperbench bench --synthetic ARCH ...`: the bench command's --backend and
    --compute-type may be comma-separated lists; --batch-size is one value there (use
    `whisperbench synthetic --batch-size 1 16` for several)."""
    if args.suite or args.dataset or args.model:
        raise WhisperbenchError("--synthetic times architectures with random weights; give no SUITE, --model or --dataset")
    return run_synthetic(
        architectures=args.synthetic,
        backends=_split(args.backend) or None,
        device=args.device,
        compute_types=_split(args.compute_type) or ["default"],
        batch_sizes=[args.batch_size],
        args=args,
    )


def run_synthetic(architectures, backends, device, compute_types, batch_sizes, args) -> int:
    from whisperbench.bench import synthetic
    from whisperbench.bench.architectures import get
    from whisperbench.paths import results_dir

    archs = [get(a) for a in architectures]
    output = args.output or str(results_dir() / f"synthetic-{datetime.now().strftime('%Y%m%d-%H%M%S')}.jsonl")
    output_file(output, "results file")  # both outputs before any weights are built
    if args.markdown:
        output_file(args.markdown, "--markdown file")
    quiet = getattr(args, "quiet", False)

    def on_start(row: dict) -> None:
        if not quiet:
            print(f"{row['architecture']} {row['backend']} {row['device']} {row['compute_type']} "
                  f"batch {row['batch_size']}: timing (weights are built first if not cached)...",
                  file=sys.stderr, flush=True)

    def progress(row: dict) -> None:
        if quiet:
            return
        if row["status"] == "ok":
            msg = (f"encoder {row['encoder_seconds']:.3f} s, total {row['total_seconds']:.3f} s, "
                   f"{row['per_token_seconds'] * 1e3:.2f} ms/token, measured/bound {row['roofline_ratio']:.2f}")
            marks = synthetic.timing_marks(row)
            if marks:
                msg += " ⚠️ " + "; ".join(marks)
        else:
            msg = f"{row['status']}: {row.get('error')}"
        print(f"{row['architecture']} {row['backend']} {row['device']} {row['compute_type']} "
              f"batch {row['batch_size']}: {msg}", file=sys.stderr, flush=True)

    rows = synthetic.run(
        archs, backends, devices=[device], compute_types=compute_types, batch_sizes=batch_sizes,
        decode_tokens=args.decode_tokens, repeats=args.repeats or 3, warmups=args.warmups if args.warmups is not None else 1,
        threads=args.threads, options=parse_key_values(args.backend_option), output=output, progress=progress,
        isolate=not args.in_process, timeout_s=args.timeout_s, on_start=on_start,
    )
    text = synthetic.markdown(rows, reference=args.reference)
    print(text)
    if args.markdown:
        write_text_atomic(args.markdown, text)
    print(f"{sum(r['status'] == 'ok' for r in rows)} measured, {sum(r['status'] == 'skipped' for r in rows)} skipped, "
          f"{sum(r['status'] == 'failed' for r in rows)} failed -> {output}", file=sys.stderr)
    return 1 if any(r["status"] == "failed" for r in rows) else 0
