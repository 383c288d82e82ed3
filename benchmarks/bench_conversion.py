"""Conversion time and peak memory per target format (a benchmark, not a test).

    .venv/bin/python benchmarks/bench_conversion.py [fixture:tiny.en] [fixture:base] [--wer AUDIO...]

Each conversion runs in a fresh child process; after imports its peak-RSS mark is reset
(/proc/self/clear_refs) so "own MB" is the conversion's own peak above the baseline
(interpreter + imported runtimes), and "own/size" relates it to the checkpoint's size.
Progress bars are off here (the child's stderr is not a terminal). With --wer, each quantized output is decoded greedily next to its float counterpart in the
same runtime and the WER delta is printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

TARGETS = [
    ("transformers", "float16"), ("transformers", "float32"), ("ctranslate2", "float16"), ("ctranslate2", "float32"),
    ("ctranslate2", "int8"), ("ctranslate2", "int8_float16"), ("ctranslate2", "int8_float32"),
    ("openai", "float16"), ("ggml", "float16"), ("ggml", "q8_0"), ("ggml", "q5_0"),
]

CHILD = r"""
import json, sys, time
from whisperbench import conversion as C
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024

fmt, q, src, out = sys.argv[1:5]
# import what the writer needs before measuring the baseline
if fmt == "ctranslate2": import ctranslate2.specs
if fmt == "openai": import torch
C.read(src)  # warm the page cache
open("/proc/self/clear_refs", "w").write("5")  # reset the peak-RSS mark
base = rss("VmRSS:")
t0 = time.perf_counter()
C.convert(src, fmt, out, quantization=None if q == "-" else q)
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "peak_mb": rss("VmHWM:"), "baseline_mb": base}))
"""


def main(argv: list[str]) -> int:
    wer_audio: list[str] = []
    if "--wer" in argv:
        i = argv.index("--wer")
        wer_audio, argv = argv[i + 1:], argv[:i]
    sources = argv or ["fixture:tiny.en"]
    from whisperbench import conversion as C

    for src in sources:
        info = C.describe(src)
        path = Path(info["path"])
        size_mb = sum(f.stat().st_size for f in ([path] if path.is_file() else path.iterdir())) / 2**20
        print(f"\n{src}: {info['format']} {info['quantization']}, {size_mb:.1f} MB on disk")
        print(f"{'target':<26}{'seconds':>9}{'peak MB':>10}{'base MB':>10}{'own MB':>9}{'own/size':>10}")
        outputs = {}
        with tempfile.TemporaryDirectory() as tmp:
            for fmt, q in TARGETS:
                out = Path(tmp) / f"{fmt}-{q}{'.pt' if fmt == 'openai' else '.bin' if fmt == 'ggml' else ''}"
                res = subprocess.run([sys.executable, "-c", CHILD, fmt, q, src, str(out)], capture_output=True, text=True)
                if res.returncode != 0:
                    print(f"{fmt + ' ' + q:<26} failed: {res.stderr.strip().splitlines()[-1]}")
                    continue
                r = json.loads(res.stdout.strip().splitlines()[-1])
                own = r["peak_mb"] - r["baseline_mb"]
                print(f"{fmt + ' ' + q:<26}{r['seconds']:>9.2f}{r['peak_mb']:>10.0f}{r['baseline_mb']:>10.0f}{own:>9.0f}{own / size_mb:>10.2f}")
                outputs[(fmt, q)] = out
            if wer_audio:
                from whisperbench.bench.verify import verify

                for (fmt, q), ref in (
                    (("ggml", "q8_0"), ("ggml", "float16")), (("ggml", "q5_0"), ("ggml", "float16")),
                    (("ctranslate2", "int8"), ("ctranslate2", "float16")),
                ):
                    if (fmt, q) in outputs and ref in outputs:
                        rep = verify(outputs[ref], outputs[(fmt, q)], wer_audio)
                        print(f"WER {fmt} {q} vs {ref[1]}: {rep.wer:.4f}, token agreement {rep.token_agreement:.4f}, "
                              f"exact files {rep.exact_rate:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
