"""How much does the harness distort what it measures?

1. Runs the default suite (tiny.en, CTranslate2) and prints its wall time and the share
   of it spent outside backend calls (process start, imports, data loading, metrics,
   bookkeeping), from the rows and cell records the run wrote.
2. Per-utterance timing overhead on jfk (11 s):
   a. in the cell's child process: call_seconds (around Backend.transcribe) vs decode_seconds (the
      backend's own timer), and loop time between consecutive rows vs decode_seconds;
   b. the harness cell's median decode time vs a direct faster-whisper call on the same
      clip with the same arguments, in this process (median of N each, interleaved for
      the in-process pair).

Usage: .venv/bin/python benchmarks/bench_harness.py [--repeats 15] [--skip-suite]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from whisperbench.bench import read_records, read_results, summarize  # noqa: E402
from whisperbench.bench.runner import run_suite  # noqa: E402
from whisperbench.bench.suite import build_suite, load_suite  # noqa: E402
from whisperbench.paths import speech_dir  # noqa: E402


def suite_overhead(tmp: Path) -> None:
    out = tmp / "default.jsonl"
    t0 = time.perf_counter()
    report = run_suite(load_suite("default"), out, quiet=True)
    wall = time.perf_counter() - t0
    df = read_results(out)
    cells = read_records(out, ["cell"])
    decode = df["decode_seconds"].sum()
    load = sum(c["load_seconds"] for c in cells)
    warm = sum(sum(c["warmup_seconds"]) for c in cells)
    wrapper = (df["call_seconds"] - df["decode_seconds"]).sum()
    inside = decode + load + warm
    print(f"default suite: {len(df)} rows, {report.failures} failures, wall {wall:.1f} s")
    print(f"  inside backend calls: decode {decode:.1f} s + load {load:.1f} s + warm-up {warm:.1f} s = {inside:.1f} s")
    print(f"  outside backend calls: {wall - inside:.1f} s = {100 * (wall - inside) / wall:.1f} % of the wall time "
          "(process start, imports, audio decoding, metrics, writing)")
    print(f"  of which Backend.transcribe wrapper (validation, result assembly): {wrapper:.3f} s")
    print(f"  per-cell wall: {', '.join(f'{s:.1f}' for s in report.cell_seconds)} s")
    s = summarize(df)
    print(s[["dataset", "algorithm", "wer", "latency_p50_s", "rtfx", "load_seconds", "peak_rss_mb"]].to_string(index=False))


def per_utterance_overhead(tmp: Path, repeats: int) -> None:
    from whisperbench import backends
    from whisperbench.audio import load_audio
    from whisperbench.options import DecodeOptions

    data = {
        "name": "overhead", "repeats": repeats, "warmups": 2, "decode": {"language": "en"},
        "engines": [{"backend": "ctranslate2", "model": "fixture:tiny.en", "compute_type": "int8"}],
        "datasets": [{"name": "jfk", "kind": "manifest", "path": str(speech_dir() / "jfk" / "manifest.jsonl"),
                      "algorithms": ["short"]}],
    }
    out = tmp / "jfk.jsonl"
    run_suite(build_suite(data), out, quiet=True)
    df = read_results(out).sort_values("repeat")
    dec = df["decode_seconds"].to_numpy()
    call = df["call_seconds"].to_numpy()
    stamps = [datetime.fromisoformat(t).timestamp() for t in df["timestamp"]]
    loop = [b - a for a, b in zip(stamps, stamps[1:])]
    med = statistics.median(dec)
    print(f"\njfk x {repeats} in a harness cell (subprocess): median decode {med * 1000:.1f} ms")
    print(f"  call timer - decode timer: median {statistics.median(call - dec) * 1e3:.3f} ms "
          f"= {100 * statistics.median(call - dec) / med:.3f} % of the decode")
    loop_over = statistics.median([l - d for l, d in zip(loop, dec[1:])])
    print(f"  loop time between rows - decode: median {loop_over * 1e3:.2f} ms = {100 * loop_over / med:.2f} % "
          "(metrics, row assembly, pipe write; outside the timer)")

    # Direct runtime call vs the harness timer, same process, interleaved.
    opts = DecodeOptions(language="en")
    backend = backends.load("ctranslate2", "fixture:tiny.en", compute_type="int8")
    samples = load_audio(speech_dir() / "jfk" / "jfk.flac")
    kwargs = backend._common_kwargs(opts)
    for _ in range(2):
        backend.transcribe(samples, opts)
    direct, timed = [], []

    def run_direct() -> None:
        t0 = time.perf_counter()
        segments, _info = backend.model.transcribe(samples, **kwargs)
        list(segments)  # the decode happens while the generator is consumed
        direct.append(time.perf_counter() - t0)

    def run_timed() -> None:
        timed.append(backend.transcribe(samples, opts).timing.decode_seconds)

    for k in range(repeats):  # alternate the order (ABBA) so neither side always runs first
        for f in ((run_direct, run_timed) if k % 2 == 0 else (run_timed, run_direct)):
            f()
    d, t = statistics.median(direct), statistics.median(timed)
    print(f"\nsame clip, this process: direct faster-whisper call median {d * 1000:.1f} ms, "
          f"Backend.transcribe timer median {t * 1000:.1f} ms: difference {100 * (t - d) / d:+.2f} %")
    print(f"harness cell (subprocess) median {med * 1000:.1f} ms vs direct: {100 * (med - d) / d:+.2f} % "
          "(includes run-to-run and process-to-process noise)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--skip-suite", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_suite:
            suite_overhead(Path(tmp))
        per_utterance_overhead(Path(tmp), args.repeats)


if __name__ == "__main__":
    main()
