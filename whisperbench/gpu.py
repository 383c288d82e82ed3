"""GPU facts shared by the backends and the benchmark (a runtime's own CUDA preflight is in
its package, e.g. `whisperbench.backends.ctranslate2.load.check_cuda`).

- `gpu_state()`: name, driver, clocks, memory, power of each NVIDIA GPU via nvidia-smi.
- `GpuMemoryMonitor`: peak device memory in use during a cell, the same measure for
  every runtime (torch.cuda's statistics see only PyTorch's own allocator).

Nothing here imports torch or a runtime.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any, Callable

from whisperbench.errors import UnsupportedOptionError
from whisperbench.memory import PeakSampler

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


class GpuMemoryMonitor(PeakSampler):
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
        problems = []
        if reader is not None:
            self.method = "reader"
        else:
            ident = _device_ident(device)
            for method, make in (("nvml", _nvml_reader), ("nvidia-smi", _smi_reader)):
                try:
                    reader = make(ident)
                    self.method = method
                    break
                except Exception as exc:  # noqa: BLE001 - no library, no driver, no such GPU
                    problems.append(f"{method}: {type(exc).__name__}: {exc}".strip())
        # nvidia-smi starts a process per reading: sample it less often.
        super().__init__(reader, max(interval, 0.1) if self.method == "nvidia-smi" else interval, name="GPU memory")
        if self.method is None:
            self.note = "GPU memory not readable (" + "; ".join(problems) + ")"

    def start(self) -> "GpuMemoryMonitor":
        super().start()
        return self

    def peak_mb(self) -> float | None:
        """Peak device memory in use above the start reading, MiB, so far (None: not readable)."""
        return self.peak_above_start_mb()

    def stop(self) -> dict[str, Any]:
        self.halt()
        peak = self.peak_mb()
        out: dict[str, Any] = {"gpu_peak_mb": peak, "gpu_memory_method": self.method}
        if self.before is not None:
            out["gpu_used_before_mb"] = self.before / 2**20
        if self.note:
            out["gpu_memory_note"] = self.note
        return out
