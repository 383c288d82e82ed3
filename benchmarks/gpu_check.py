"""One short GPU check: large-v3 vs distil-large-v3 architecture timing (random weights,
fixed decode length) at batch 1 and 16 for transformers (SDPA, float16) and CTranslate2
(float16); prints relative latency and measured/bound per decoded token.

    python benchmarks/gpu_check.py [--decode-tokens 64] [--batch-sizes 1 16] [--out DIR]
    bash scripts/gpu_check.sh ...   (on a lent device machine: installs the carried wheel first)

Each cell runs in a process of its own (a crash or a hang is a failed row; the GPU
memory peak, read through NVML, is that cell's alone).

CTranslate2's PyPI wheel needs libcublas.so.12. When only cuBLAS 13 is present (CUDA 13
images), this script symlinks libcublas(Lt).so.13 as .so.12 in a temporary folder, puts
it on LD_LIBRARY_PATH and re-executes itself (the loader reads LD_LIBRARY_PATH at start).
Results: DIR/gpu_check.jsonl and DIR/gpu_check.md (DIR defaults to $OUT or results/).
Reference (a probe on one H100, fp16): transformers SDPA batch 1 5.65x, batch 16 5.08x;
CTranslate2 batch 1 5.43x. Target: distil-large-v3 within 3x of the bandwidth bound.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cublas12_loadable() -> bool:
    try:
        ctypes.CDLL("libcublas.so.12")
        return True
    except OSError:
        return False


def _find_cublas13() -> tuple[str, str] | None:
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    dirs += ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu"]
    dirs += glob.glob("/usr/local/cuda-*/lib64") + glob.glob("/usr/local/cuda-*/targets/x86_64-linux/lib")
    for base in sys.path:  # pip's nvidia-cublas (cu13) wheels, torch's bundled libraries
        dirs += glob.glob(os.path.join(base, "nvidia", "cu13", "lib")) + glob.glob(os.path.join(base, "nvidia", "cublas", "lib"))
    for d in dirs:
        a, b = os.path.join(d, "libcublas.so.13"), os.path.join(d, "libcublasLt.so.13")
        if os.path.exists(a) and os.path.exists(b):
            return a, b
    try:  # already mapped by some library? ask the loader
        ctypes.CDLL("libcublas.so.13")
        ctypes.CDLL("libcublasLt.so.13")
    except OSError:
        return None
    with open("/proc/self/maps") as fh:
        paths = {line.split()[-1] for line in fh if "libcublas" in line}
    a = next((p for p in paths if p.endswith("libcublas.so.13")), None)
    b = next((p for p in paths if p.endswith("libcublasLt.so.13")), None)
    return (a, b) if a and b else None


def ensure_cublas12() -> str:
    """Make libcublas.so.12 loadable (re-exec with a symlink folder if needed)."""
    if _cublas12_loadable():
        return "libcublas.so.12 found"
    if os.environ.get("WHISPERBENCH_CUBLAS_SHIM"):
        return f"shim at {os.environ['WHISPERBENCH_CUBLAS_SHIM']} did not help (CTranslate2 rows will fail with the reason)"
    found = _find_cublas13()
    if not found:
        return "no cuBLAS 12 or 13 found (CTranslate2 rows will fail with the reason)"
    shim = tempfile.mkdtemp(prefix="cublas12-shim-")
    os.symlink(found[0], os.path.join(shim, "libcublas.so.12"))
    os.symlink(found[1], os.path.join(shim, "libcublasLt.so.12"))
    env = dict(os.environ, WHISPERBENCH_CUBLAS_SHIM=shim,
               LD_LIBRARY_PATH=shim + (":" + os.environ["LD_LIBRARY_PATH"] if os.environ.get("LD_LIBRARY_PATH") else ""))
    print(f"gpu_check: symlinked {found[0]} / {found[1]} as .so.12 in {shim}; re-executing", flush=True)
    os.execve(sys.executable, [sys.executable, *sys.argv], env)
    raise AssertionError("unreachable")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decode-tokens", type=int, default=64)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--backends", nargs="+", default=["transformers", "ctranslate2"])
    ap.add_argument("--cell-timeout", type=float, default=300, help="seconds before a cell is killed (default 300)")
    ap.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "results"))
    args = ap.parse_args()
    note = ensure_cublas12() if "ctranslate2" in args.backends else "ctranslate2 not asked"
    print(f"gpu_check: cuBLAS: {note}", flush=True)

    from whisperbench.bench import synthetic
    from whisperbench.gpu import gpu_state

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    print("gpu_check: GPU", gpu_state(), flush=True)

    def progress(r: dict) -> None:
        if r["status"] == "ok":
            print(f"  {r['architecture']:>16} {r['backend']:>12} b{r['batch_size']:<3} encoder {r['encoder_seconds']:.3f} s "
                  f"total {r['total_seconds']:.3f} s {r['per_token_seconds'] * 1e3:.2f} ms/token "
                  f"bound {r['bound_per_token_s'] * 1e3:.2f} ms measured/bound {r['roofline_ratio']:.2f} "
                  f"GPU peak {r.get('gpu_peak_mb') or 0:.0f} MB ({r.get('gpu_memory_method')}) [{time.time() - t0:.0f} s]", flush=True)
        else:
            print(f"  {r['architecture']} {r['backend']} b{r['batch_size']}: {r['status']}: {r.get('error')}", flush=True)

    def on_start(r: dict) -> None:
        print(f"  {r['architecture']:>16} {r['backend']:>12} b{r['batch_size']:<3} starting (weights built if not "
              f"cached) [{time.time() - t0:.0f} s]", flush=True)

    rows = []
    for backend in args.backends:
        rows += synthetic.run(
            ["large-v3", "distil-large-v3"], [backend], devices=["cuda"], compute_types=["float16"],
            batch_sizes=args.batch_sizes, decode_tokens=args.decode_tokens, repeats=args.repeats, warmups=1,
            options={"attn_implementation": "sdpa"} if backend == "transformers" else {},
            output=out / "gpu_check.jsonl", progress=progress, on_start=on_start, timeout_s=args.cell_timeout,
        )
    md = synthetic.markdown(rows, reference="large-v3")
    (out / "gpu_check.md").write_text(md)
    print(md)
    print("gpu_check: relative latency large-v3 / distil-large-v3 (H100 probe: transformers b1 5.65x, b16 5.08x; CT2 b1 5.43x)")
    for r in synthetic.relative_latency(rows, reference="large-v3"):
        print(f"  {r['backend']:>12} batch {r['batch_size']:<3} {r['relative_latency']:.2f}x  "
              f"(per token {r['per_token_speedup']:.2f}x; distil measured/bound {r['roofline_ratio']:.2f}, "
              f"target <= 3)")
    print(f"gpu_check: {time.time() - t0:.0f} s")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
