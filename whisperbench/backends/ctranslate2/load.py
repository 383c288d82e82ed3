"""Loading CTranslate2, shared by the adapter (through faster-whisper) and the synthetic
primitives (its `models.Whisper` directly): the device index, the cuBLAS preflight, and the
load itself with its errors in one line.

CTranslate2's PyPI wheels link cuBLAS 12; on a machine with CUDA 13 only they fail at first
use with "libcublas.so.12 is not found". `check_cuda` finds that before a model is loaded
and says what to install.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
from typing import Any

from whisperbench.errors import ModelError, UnsupportedOptionError


def device_index(device: str) -> int:
    """The N of "cuda:N" (0 without one)."""
    return int(device.split(":", 1)[1]) if ":" in device else 0


def cuda_devices() -> int:
    import ctranslate2

    return ctranslate2.get_cuda_device_count()


def _pip_cublas12() -> list[str]:
    """libcublasLt / libcublas .so.12 from a pip-installed nvidia-cublas-cu12, if any."""
    found = []
    for base in sys.path:
        for name in ("libcublasLt.so.12", "libcublas.so.12"):
            found += glob.glob(os.path.join(base, "nvidia", "cublas", "lib", name))
    return found


def check_cuda() -> dict[str, Any]:
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


def load_model(where: str, device: str, compute_type: str, threads: int, local: bool, spec: str):
    """A `faster_whisper.WhisperModel` (its `.model` is the `ctranslate2.models.Whisper`) on
    `where`, a local folder or a hub id; `spec` names the model in errors. On CUDA, the
    caller has run `check_cuda` (the adapter's device check does)."""
    from faster_whisper import WhisperModel

    try:
        return WhisperModel(
            where,
            device=device.split(":", 1)[0],
            device_index=device_index(device),
            compute_type=compute_type,
            cpu_threads=threads,
            local_files_only=local,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(f"cannot load CTranslate2 model {spec!r}: {exc}") from None
    except Exception as exc:  # hub errors come in many types
        if local:
            raise
        raise ModelError(f"cannot download or load {spec!r}: {type(exc).__name__}: {exc}") from None
