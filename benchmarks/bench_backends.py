"""Per-backend figures on this machine: tiny.en on `jfk` (short) and one sonnet (sequential).

For every installed backend (ctranslate2, transformers, openai, whispercpp), in its own
subprocess (so peak RSS is that backend's alone):
  load time (median of 2 loads, after any format conversion is cached), median decode
  latency and RTFx through our adapter, the same decode with the runtime called directly
  with identical arguments (same loaded model, pre-decoded audio, calls alternated after
  warm-up), the adapter overhead (target < 3 %), and peak RSS.

    .venv/bin/python benchmarks/bench_backends.py [--backends a,b] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

BACKENDS = ("ctranslate2", "transformers", "openai", "whispercpp")


def _direct_call(backend, options):
    """A function running the runtime directly with the adapter's exact arguments."""
    name = backend.name
    if name == "ctranslate2":
        kwargs = backend._common_kwargs(options)

        def run(samples):
            segments, _ = backend.model.transcribe(samples, **kwargs)
            return list(segments)

        return run
    if name == "openai":
        import whisper

        kwargs = backend._sequential_kwargs(options)  # exactly what the adapter passes

        def run(samples):
            return whisper.transcribe(backend.model, samples, **kwargs)

        return run
    if name == "transformers":
        import torch

        kwargs = backend._generate_kwargs(options)
        kwargs["condition_on_prev_tokens"] = options.condition_on_previous_text
        fe, model, tok = backend.feature_extractor, backend.model, backend.tokenizer

        def run(samples):
            if len(samples) > 30 * 16000:
                inputs = fe(samples, sampling_rate=16000, return_tensors="pt", truncation=False,
                            padding="longest", return_attention_mask=True)
            else:
                inputs = fe(samples, sampling_rate=16000, return_tensors="pt", return_attention_mask=True)
            with torch.inference_mode():
                out = model.generate(inputs.input_features.to(backend.dtype), attention_mask=inputs.attention_mask,
                                     return_segments=True, **kwargs)
            return [tok.decode(s["tokens"], skip_special_tokens=True) for s in out["segments"][0]]

        return run
    if name == "whispercpp":
        params = backend.params(options)

        def run(samples):
            return backend.model.transcribe(samples, **params)

        return run
    raise ValueError(name)


def measure(name: str, repeats: int, threads: int) -> dict:
    from whisperbench import DecodeOptions, backends
    from whisperbench.memory import peak_rss_mb
    from whisperbench.audio import load_audio
    from whisperbench.paths import speech_dir

    speech = speech_dir()
    clips = {
        "jfk": (load_audio(speech / "jfk" / "jfk.flac"), DecodeOptions(language="en")),
        "sonnet1": (load_audio(speech / "sonnets" / "p001.mp3"), DecodeOptions(algorithm="sequential", language="en")),
    }
    cls = backends.get(name)
    from whisperbench.options import LoadOptions

    loads = []
    backend = None
    for _ in range(3):  # the first load may convert the fixture (cached afterwards): not counted
        if backend is not None:
            backend.close()
        t0 = time.perf_counter()
        backend = cls("fixture:tiny.en", LoadOptions(threads=threads))
        loads.append(time.perf_counter() - t0)
    row = {"backend": name, "runtime": cls.runtime_version(), "compute_type": backend.load_options.compute_type,
           "load_s": statistics.median(loads[1:])}
    for clip, (samples, options) in clips.items():
        direct = _direct_call(backend, options)

        def adapter(s=samples, o=options):
            return backend.transcribe(s, o)

        n = repeats if clip == "jfk" else max(3, repeats // 2)
        adapter(), direct(samples)  # warm-up
        a, d = [], []
        for i in range(n):
            for fn in ((adapter, direct) if i % 2 == 0 else (direct, adapter)):
                t0 = time.perf_counter()
                fn() if fn is adapter else fn(samples)
                (a if fn is adapter else d).append(time.perf_counter() - t0)
        audio_s = len(samples) / 16000
        ma, md = statistics.median(a), statistics.median(d)
        row[clip] = {"audio_s": audio_s, "median_s": ma, "rtfx": audio_s / ma, "direct_median_s": md,
                     "overhead_pct": 100 * (ma - md) / md, "n": n}
    row["peak_rss_mb"] = peak_rss_mb()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.repeats, args.threads)))
        return
    from whisperbench import backends

    rows = []
    for name in args.backends.split(","):
        if not backends.is_installed(name):
            print(f"# {name}: not installed, skipped", file=sys.stderr)
            continue
        out = subprocess.run(
            [sys.executable, __file__, "--one", name, "--repeats", str(args.repeats), "--threads", str(args.threads)],
            capture_output=True, text=True,
        )
        if out.returncode != 0:
            print(f"# {name}: failed:\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"tiny.en, CPU, threads={args.threads}; jfk = 11.0 s short-form, sonnet1 = sequential long-form; "
          "latency = median; overhead = adapter vs runtime called directly")
    head = (f"{'backend':12} {'type':8} {'load s':>7} | {'jfk s':>6} {'RTFx':>6} {'direct':>6} {'ovh %':>6} | "
            f"{'son. s':>6} {'RTFx':>6} {'direct':>6} {'ovh %':>6} | {'peak RSS MB':>11}")
    print(head)
    print("-" * len(head))
    for r in rows:
        j, s = r["jfk"], r["sonnet1"]
        print(f"{r['backend']:12} {r['compute_type']:8} {r['load_s']:7.2f} | {j['median_s']:6.3f} {j['rtfx']:6.1f} "
              f"{j['direct_median_s']:6.3f} {j['overhead_pct']:+6.1f} | {s['median_s']:6.3f} {s['rtfx']:6.1f} "
              f"{s['direct_median_s']:6.3f} {s['overhead_pct']:+6.1f} | {r['peak_rss_mb']:11.0f}")


if __name__ == "__main__":
    main()
