"""Chunked long-form speed with batching over chunks, beside sequential (issue 12, item 6).

On the sonnets read back to back (one continuous 158 s item, tiny.en, CPU, language en),
for ctranslate2 and transformers: sequential once, then chunked at batch 1, 4 and 8
(each backend's default chunked implementation; add `--variants` for the others). Prints
WER with S/D/I, decode seconds, RTFx, CPU seconds (this process, all threads: the work
done, which other processes on the machine disturb far less than the wall clock), and the
1-minute load average read right before and after each measurement (figures taken on a
loaded machine are marked '!').

    .venv/bin/python benchmarks/bench_chunked_batching.py [-b ctranslate2 -b transformers]
        [--batches 1,4,8] [--repeats 1] [--threads 0] [--variants]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from whisperbench import backends  # noqa: E402
from whisperbench.bench.datasets import DatasetSpec, LongformSpec, load  # noqa: E402
from whisperbench.bench.metrics import accuracy  # noqa: E402
from whisperbench.options import DecodeOptions, LoadOptions  # noqa: E402
from whisperbench.paths import speech_dir  # noqa: E402

VARIANTS = {"ctranslate2": ("vad", "fixed", "whisperbench"), "transformers": ("pipeline", "whisperbench")}
COMPUTE = {"ctranslate2": "int8", "transformers": "float32"}


def sonnets_join():
    spec = DatasetSpec("sonnets-join", "manifest", str(speech_dir() / "sonnets" / "manifest.jsonl"),
                       longform=LongformSpec(target_seconds=170, gap_seconds=0))
    (item,) = load(spec).utterances
    return item.load(), item.reference


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-b", "--backend", action="append", choices=sorted(VARIANTS))
    ap.add_argument("--batches", default="1,4,8")
    ap.add_argument("--repeats", type=int, default=1, help="timed decodes per row (median shown)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--variants", action="store_true", help="every chunked implementation, not only the default")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    audio, reference = sonnets_join()
    seconds = len(audio) / 16000
    cores = os.cpu_count() or 1
    print(f"sonnets join: {seconds:.1f} s, tiny.en, CPU, {cores} cores, threads={args.threads or 'runtime default'}")
    print(f"{'backend':<13} {'algorithm':<10} {'chunking':<13} {'batch':>5} {'WER %':>6} {'S':>4} {'D':>4} {'I':>4} "
          f"{'decode s':>9} {'RTFx':>6} {'CPU s':>7}  load avg before/after")
    for name in args.backend or sorted(VARIANTS):
        variants = VARIANTS[name] if args.variants else VARIANTS[name][:1]
        for v_i, variant in enumerate(variants):
            lo = LoadOptions(compute_type=COMPUTE[name], threads=args.threads, extra={"chunking": variant})
            with backends.get(name)("fixture:tiny.en", lo) as b:
                b.transcribe(audio[: 10 * 16000], DecodeOptions(language="en"))  # warm-up
                runs = [("sequential", 1)] if v_i == 0 else []
                runs += [("chunked", n) for n in batches]
                for algorithm, batch in runs:
                    opts = DecodeOptions(algorithm=algorithm, language="en", batch_size=batch)
                    before, cpu = os.getloadavg()[0], time.process_time()
                    results = [b.transcribe(audio, opts) for _ in range(args.repeats)]
                    after, cpu = os.getloadavg()[0], (time.process_time() - cpu) / args.repeats
                    decode = statistics.median(r.timing.decode_seconds for r in results)
                    acc = accuracy(reference, results[0].text)
                    loaded = "!" if max(before, after) > cores else " "
                    print(f"{name:<13} {algorithm:<10} {variant if algorithm == 'chunked' else '-':<13} "
                          f"{batch if algorithm == 'chunked' else '-':>5} {100 * acc.wer:>6.2f} {acc.substitutions:>4} "
                          f"{acc.deletions:>4} {acc.insertions:>4} {decode:>9.2f} {seconds / decode:>6.1f} {cpu:>7.1f}  "
                          f"{before:.2f}/{after:.2f}{loaded}", flush=True)
    print("'!': the load average exceeded the core count during the measurement (other work competed for the CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
