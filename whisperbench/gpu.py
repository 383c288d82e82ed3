"""GPU facts and preflight checks shared by the backends and the synthetic benchmark.

- `gpu_state()`: name, driver, clocks, memory, power of each NVIDIA GPU via nvidia-smi.
- `check_ctranslate2_cuda()`: CTranslate2's PyPI wheels link cuBLAS 12; on a machine
  with CUDA 13 only they fail at first use with "libcublas.so.12 is not found". This
  finds that before a model is loaded and says what to install.
- `whispercpp_cuda()`: whether the installed pywhispercpp's whisper.cpp was built with
  CUDA (the PyPI wheel is CPU-only).
- `GpuMemoryMonitor`: peak device memory in use during a cell, the same measure for
  every runtime (torch.cuda's statistics see only PyTorch's own allocator).

Nothing here imports torch or a runtime at module import time.
"""

from __future__ import annotations

import ctypes
import glob
import os
import shutil
import subprocess
import sys
import threading
from typing import Any, Callable

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


# ----- device memory -------------------------------------------------------------------


def _device_ident(device: str) -> str:
    """The NVML / nvidia-smi identifier of a torch-style device ("cuda", "cuda:1"): CUDA
    numbers the devices listed in CUDA_VISIBLE_DEVICES, NVML numbers all of them."""
    ordinal = int(device.split(":", 1)[1]) if ":" in device else 0
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if visible:
        if ordinal >= len(visible):
            raise UnsupportedOptionError(f"{device}: CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']!r} "
                                         f"lists {len(visible)} device(s)")
        return visible[ordinal]
    return str(ordinal)


def _nvml_handle(ident: str):
    import pynvml  # nvidia-ml-py

    pynvml.nvmlInit()
    if ident.isdigit():
        return pynvml.nvmlDeviceGetHandleByIndex(int(ident))
    return pynvml.nvmlDeviceGetHandleByUUID(ident)  # "GPU-<uuid>" or "MIG-<uuid>"


def _nvml_reader(ident: str) -> Callable[[], int]:
    import pynvml

    handle = _nvml_handle(ident)
    return lambda: int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)


def nvml_energy_reader(device: str = "cuda") -> tuple[str, Callable[[], float]]:
    """(NVML identifier, reader of the device's total energy counter in joules) for a
    torch-style device; raises when NVML or the counter (Volta and later) is unavailable."""
    import pynvml

    ident = _device_ident(device)
    handle = _nvml_handle(ident)
    pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # raises here when unsupported
    return ident, lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1e3  # mJ


def _smi_reader(ident: str) -> Callable[[], int]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        raise OSError("nvidia-smi not found")

    def read() -> int:
        out = subprocess.run([exe, "-i", ident, "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        return int(float(out.strip().splitlines()[0])) * 2**20

    read()  # fails here, not in the sampling thread, when the GPU cannot be queried
    return read


class GpuMemoryMonitor:
    """Peak memory in use on one CUDA device while a cell runs, sampled in a thread.

    CTranslate2 and whisper.cpp allocate outside PyTorch, so torch.cuda.max_memory_allocated
    would read 0 for them (and it leaves out the CUDA context and the allocator's cache
    for PyTorch). This reads the device's used memory (NVML through nvidia-ml-py, else
    nvidia-smi) and reports the peak above the reading taken at start: what running the
    cell costs on the device, the same measure for every runtime. Another process using
    the same GPU meanwhile would be counted too; the runners run one cell at a time.

    `reader` (bytes in use, a callable) replaces NVML / nvidia-smi, for tests.
    """

    def __init__(self, device: str = "cuda", interval: float = 0.01,
                 reader: Callable[[], int] | None = None) -> None:
        self.device = device
        self.method: str | None = None
        self.note = ""
        self._read = reader
        if reader is not None:
            self.method = "reader"
        else:
            ident = _device_ident(device)
            problems = []
            for method, make in (("nvml", _nvml_reader), ("nvidia-smi", _smi_reader)):
                try:
                    self._read = make(ident)
                    self.method = method
                    break
                except Exception as exc:  # noqa: BLE001 - no library, no driver, no such GPU
                    problems.append(f"{method}: {type(exc).__name__}: {exc}".strip())
            if self.method is None:
                self.note = "GPU memory not readable (" + "; ".join(problems) + ")"
        # nvidia-smi starts a process per reading: sample it less often.
        self.interval = max(interval, 0.1) if self.method == "nvidia-smi" else interval
        self.before = self.peak = self._sample_once()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample_once(self) -> int | None:
        if self._read is None:
            return None
        try:
            return self._read()
        except Exception as exc:  # noqa: BLE001 - keep the peak so far; say why it stopped
            self.note = f"GPU memory reading failed: {exc}"
            self._read = None
            return None

    def sample(self) -> None:
        used = self._sample_once()
        if used is not None:
            self.peak = used if self.peak is None else max(self.peak, used)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> "GpuMemoryMonitor":
        if self._read is not None and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gpu-memory", daemon=True)
            self._thread.start()
        return self

    def peak_mb(self) -> float | None:
        """Peak device memory in use above the start reading, MiB, so far (None: not readable)."""
        self.sample()
        if self.before is None or self.peak is None:
            return None
        return (self.peak - self.before) / 2**20

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        peak = self.peak_mb()
        out: dict[str, Any] = {"gpu_peak_mb": peak, "gpu_memory_method": self.method}
        if self.before is not None:
            out["gpu_used_before_mb"] = self.before / 2**20
        if self.note:
            out["gpu_memory_note"] = self.note
        return out

    def __enter__(self) -> "GpuMemoryMonitor":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
