"""GPU facts and preflight checks shared by the backends and the synthetic benchmark.

- `gpu_state()`: name, driver, clocks, memory, power of each NVIDIA GPU via nvidia-smi.
- `check_ctranslate2_cuda()`: CTranslate2's PyPI wheels link cuBLAS 12; on a machine
  with CUDA 13 only they fail at first use with "libcublas.so.12 is not found". This
  finds that before a model is loaded and says what to install.
- `whispercpp_cuda()`: whether the installed pywhispercpp's whisper.cpp was built with
  CUDA (the PyPI wheel is CPU-only).

Nothing here imports torch or a runtime at module import time.
"""

from __future__ import annotations

import ctypes
import glob
import os
import shutil
import subprocess
import sys
from typing import Any

from whisperbench.errors import UnsupportedOptionError

_SMI_FIELDS = (
    "name", "driver_version", "memory.total", "clocks.sm", "clocks.mem", "clocks.max.sm", "clocks.max.mem",
    "power.draw", "power.limit", "temperature.gpu", "pstate",
)


def gpu_state() -> list[dict[str, Any]]:
    """One dict per NVIDIA GPU (nvidia-smi fields; MHz, MiB, W, C); [] without nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, f"--query-gpu={','.join(_SMI_FIELDS)}", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != len(_SMI_FIELDS):
            continue
        row: dict[str, Any] = {}
        for key, value in zip(_SMI_FIELDS, parts):
            key = key.replace(".", "_")
            try:
                row[key] = float(value) if key not in ("name", "driver_version", "pstate") else value
            except ValueError:  # "[N/A]", "[Not Supported]"
                row[key] = None
        rows.append(row)
    return rows


def _pip_cublas12() -> list[str]:
    """libcublasLt / libcublas .so.12 from a pip-installed nvidia-cublas-cu12, if any."""
    found = []
    for base in sys.path:
        for name in ("libcublasLt.so.12", "libcublas.so.12"):
            found += glob.glob(os.path.join(base, "nvidia", "cublas", "lib", name))
    return found


def check_ctranslate2_cuda() -> dict[str, Any]:
    """Raise UnsupportedOptionError when CTranslate2 cannot use CUDA here (no device, or no
    cuBLAS 12 for the PyPI wheel). A pip-installed `nvidia-cublas-cu12` is preloaded so
    CTranslate2's later dlopen finds it. Returns what was found."""
    import ctranslate2

    if ctranslate2.get_cuda_device_count() == 0:
        raise UnsupportedOptionError(
            f"CTranslate2 {ctranslate2.__version__} sees no CUDA device (no NVIDIA GPU or driver, or a CPU-only build)"
        )
    try:
        ctypes.CDLL("libcublas.so.12")
        return {"libcublas": "libcublas.so.12 (system)"}
    except OSError as exc:
        first_error = str(exc)
    pip_libs = _pip_cublas12()
    if pip_libs:
        try:
            for lib in sorted(pip_libs, key=lambda p: "Lt" not in p):  # libcublasLt first: libcublas needs it
                ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
            return {"libcublas": pip_libs}
        except OSError as exc:
            first_error += f"; preloading {pip_libs} failed: {exc}"
    have13 = [p for p in ("libcublas.so.13", "libcublasLt.so.13") if _loadable(p)]
    hint13 = (
        " This machine has cuBLAS 13 (" + ", ".join(have13) + "): alternatively symlink libcublas.so.13 and "
        "libcublasLt.so.13 as libcublas.so.12 / libcublasLt.so.12 in a folder and put that folder on "
        "LD_LIBRARY_PATH before starting Python (benchmarks/gpu_check.py does this)."
        if have13 else
        " On a CUDA-13-only machine you can instead symlink libcublas.so.13 / libcublasLt.so.13 as .so.12 "
        "in a folder on LD_LIBRARY_PATH (set before Python starts)."
    )
    raise UnsupportedOptionError(
        f"CTranslate2 {ctranslate2.__version__} needs cuBLAS 12 (libcublas.so.12) on CUDA, which cannot be loaded "
        f"({first_error}). Install it with: pip install nvidia-cublas-cu12 (whisperbench preloads it from "
        "site-packages/nvidia/cublas/lib), or install the CUDA 12 toolkit libraries." + hint13
    )


def _loadable(name: str) -> bool:
    try:
        ctypes.CDLL(name)
        return True
    except OSError:
        return False


def whispercpp_system_info() -> str:
    import _pywhispercpp as pw

    return str(pw.whisper_print_system_info())


def whispercpp_cuda() -> bool:
    """True when pywhispercpp's whisper.cpp was built with a CUDA backend."""
    info = whispercpp_system_info().upper()
    return "CUDA" in info or "CUBLAS" in info


def check_whispercpp_cuda() -> None:
    if not whispercpp_cuda():
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("pywhispercpp")
        except PackageNotFoundError:
            v = "?"
        raise UnsupportedOptionError(
            f"whisper.cpp on CUDA: the installed pywhispercpp {v} was built without CUDA (its system info: "
            f"{whispercpp_system_info().strip()!r}); the PyPI wheel is CPU-only. Build it with CUDA: "
            "GGML_CUDA=1 pip install --no-binary pywhispercpp pywhispercpp (needs the CUDA toolkit and nvcc)"
        )
