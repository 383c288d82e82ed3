"""Transformers.js backend figures for the per-backend table: load time, median latency,
RTFx and peak RSS of the Node.js worker process, on jfk (short) and one sonnet (chunked),
for the fp32 and int8 ONNX graphs of tiny.en. The CTranslate2 backend runs alongside as
the reference on the same machine.

    .venv/bin/python benchmarks/bench_transformersjs.py [--repeats 3] [--model fixture:tiny.en]
"""

from __future__ import annotations

import argparse
import statistics
import time

from whisperbench import backends
from whisperbench.audio import duration_seconds, load_audio
from whisperbench.options import DecodeOptions
from whisperbench.paths import speech_dir


def measure(name: str, model: str, compute_type: str, cases, repeats: int) -> list[dict]:
    t0 = time.perf_counter()
    b = backends.load(name, model, compute_type=compute_type)
    load = time.perf_counter() - t0
    rows = []
    try:
        for label, samples, options in cases:
            b.transcribe(samples, options)  # warm-up
            outs = [b.transcribe(samples, options) for _ in range(repeats)]
            lat = statistics.median(o.timing.decode_seconds for o in outs)
            inner = [o.extra.get("worker_seconds") for o in outs]
            rss = outs[-1].extra.get("worker_peak_rss_mb")
            if rss is None:
                import psutil

                rss = psutil.Process().memory_info().rss / 2**20  # in-process runtimes: this process, now
            rows.append(dict(
                backend=name, compute_type=b.load_options.compute_type, audio=label, load_s=load,
                median_s=lat, inner_s=statistics.median(inner) if None not in inner else None,
                rtfx=duration_seconds(samples) / lat, peak_rss_mb=rss,
            ))
    finally:
        b.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default="fixture:tiny.en")
    args = ap.parse_args()
    speech = speech_dir()
    jfk = load_audio(speech / "jfk" / "jfk.flac")
    sonnet = load_audio(speech / "sonnets" / "p001.mp3")
    cases = [
        ("jfk 11 s short", jfk, DecodeOptions(language="en")),
        ("sonnet 53 s chunked", sonnet, DecodeOptions(language="en", algorithm="chunked", chunk_length_s=30.0)),
    ]
    rows = []
    for ct in ("float32", "int8"):
        rows += measure("transformersjs", args.model, ct, cases, args.repeats)
    for ct in ("float32", "int8"):
        rows += measure("ctranslate2", args.model, ct, cases, args.repeats)
    print(f"{'backend':<15}{'type':<9}{'audio':<22}{'load s':>8}{'median s':>10}{'in-worker s':>12}{'RTFx':>7}{'peak RSS MB':>13}")
    for r in rows:
        inner = f"{r['inner_s']:.3f}" if r["inner_s"] is not None else "-"
        print(f"{r['backend']:<15}{r['compute_type']:<9}{r['audio']:<22}{r['load_s']:>8.2f}{r['median_s']:>10.3f}"
              f"{inner:>12}{r['rtfx']:>7.1f}{r['peak_rss_mb']:>13.0f}")
    print("peak RSS: the Node worker's VmHWM for transformersjs; the current RSS of this Python process "
          "(all runtimes loaded so far) for ctranslate2")


if __name__ == "__main__":
    main()
