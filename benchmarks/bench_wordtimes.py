"""Word timestamps on every backend against forced alignment (issue 21), and their cost.

tiny.en on the shared `wordtimes` set (11 LJSpeech sentences, 45 s, Montreal Forced Aligner
word times). Per backend and algorithm:
- sequential: each sentence decoded on its own;
- chunked: the 11 sentences joined into one 45 s recording, decoded in 15 s windows by the
  backend's default chunked implementation (word times carried across windows).
Printed: how the words were timed, the share of reference words matched, the share of word
boundaries within 50 / 100 / 250 ms, mean absolute start / end errors, and RTFx with word
timestamps off and on (median of `--repeats` passes after a warm-up decode of one short
sentence; the machine's load is
printed: timings from a shared machine are noisy).

Usage:
  .venv/bin/python benchmarks/bench_wordtimes.py [-b ctranslate2 -b openai ...] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from whisperbench import backends  # noqa: E402
from whisperbench.bench import datasets as ds  # noqa: E402
from whisperbench.bench.word_metrics import pooled, word_timing  # noqa: E402
from whisperbench.options import DecodeOptions  # noqa: E402
from whisperbench.paths import speech_dir  # noqa: E402

CHUNK_SECONDS = 15.0


def items(algorithm: str) -> list[tuple[ds.Utterance, object]]:
    dataset = ds.load(ds.DatasetSpec("wordtimes", "manifest", str(speech_dir() / "wordtimes" / "manifest.jsonl")))
    utts = list(dataset)
    if algorithm == "chunked":
        utts = ds.build_longform(utts, ds.LongformSpec(target_seconds=10_000))
    return [(u, u.load()) for u in utts]


def measure(backend, data, options: DecodeOptions, repeats: int, warmup) -> tuple[float, list]:
    """RTFx (audio seconds over the median pass's decode seconds) and the last pass's results,
    after one warm-up decode of `warmup` (a short sentence) with the same options."""
    backend.transcribe(warmup, options)
    passes, results = [], []
    for _ in range(repeats):
        results = [backend.transcribe(samples, options) for _, samples in data]
        passes.append(sum(r.timing.decode_seconds for r in results))
    audio = sum(r.timing.audio_seconds for r in results)
    return audio / statistics.median(passes), results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-b", "--backend", action="append", help="backends (default: every installed one that times words)")
    ap.add_argument("-a", "--algorithm", action="append", choices=("sequential", "chunked"),
                    help="algorithms (default: both)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default="fixture:tiny.en")
    args = ap.parse_args()
    names = args.backend or [n for n in backends.names() if n not in ("dummy", "openai-api")
                             and backends.is_installed(n)]
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs "
          "(a shared machine: RTFx figures are noisy)")
    header = (f"{'backend':<13} {'algorithm':<10} {'method':<20} {'matched':>7} {'≤50ms':>6} {'≤100ms':>6} "
              f"{'≤250ms':>6} {'start MAE':>9} {'end MAE':>8} {'RTFx off':>8} {'RTFx on':>8}")
    lines = []
    algorithms = args.algorithm or ["sequential", "chunked"]
    data = {alg: items(alg) for alg in {"sequential", *algorithms}}
    for name in names:
        cls = backends.get(name)
        if not cls.capabilities.word_timestamps:
            lines.append(f"{name:<13} {'–':<10} refuses word_timestamps: {cls.capabilities.notes}")
            continue
        backend = cls(args.model)
        try:
            for alg in algorithms:
                off = DecodeOptions(algorithm=alg, language="en", chunk_length_s=CHUNK_SECONDS if alg == "chunked" else 30.0)
                on = off.replace(word_timestamps=True)
                try:
                    warmup = data["sequential"][0][1]
                    rtfx_off, _ = measure(backend, data[alg], off, args.repeats, warmup)
                    rtfx_on, results = measure(backend, data[alg], on, args.repeats, warmup)
                except Exception as exc:  # a backend that cannot: say so in the table
                    lines.append(f"{name:<13} {alg:<10} {type(exc).__name__}: {exc}")
                    continue
                rows = [word_timing(u.words, [w for s in r.segments for w in (s.words or ())]).to_row()
                        for (u, _), r in zip(data[alg], results)]
                t = pooled(rows)
                method = results[0].extra.get("word_timing", "?")
                lines.append(f"{name:<13} {alg:<10} {method:<20} {100 * t.matched_share:>6.1f}% "
                             f"{100 * t.within_50ms:>5.1f}% {100 * t.within_100ms:>5.1f}% {100 * t.within_250ms:>5.1f}% "
                             f"{t.start_error_mean_s:>8.3f}s {t.end_error_mean_s:>7.3f}s {rtfx_off:>8.1f} {rtfx_on:>8.1f}")
                print(lines[-1], flush=True)
        finally:
            backend.close()
    print()
    print(header)
    print("\n".join(lines))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
