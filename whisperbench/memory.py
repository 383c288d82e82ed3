"""Memory readings: the one sampler (`PeakSampler`) behind every peak whisperbench records.

- `PeakSampler`: the peak of a reading (bytes) taken in a thread every `interval` seconds,
  or on demand (`sample()`), with the reading at start. `RssSampler` reads a process's
  resident set size (the child-process spawner's memory cap polls its child's; a synthetic
  cell samples its own), `whisperbench.gpu.GpuMemoryMonitor` a CUDA device's memory in use.
- `CellMemory`: what one cell records: process RSS, and on CUDA the device's memory in use
  and the runtime's own allocator peak where it has one (PyTorch), through hooks.
- `peak_rss_mb(pid)`: the kernel's own high-water mark (VmHWM); `reset_peak_rss()` starts
  this process's afresh (a scenario cell's child reads one LoadGen run's peak so).

`resource.getrusage(...).ru_maxrss` is the wrong peak for a freshly spawned child on
Linux: the kernel carries the parent's high-water mark across fork+exec, so a small
child started by a 3 GB parent reports 3 GB. VmHWM in /proc belongs to the process's
own address space and starts afresh at exec.
"""

from __future__ import annotations

import resource
import sys
import threading
from typing import Any, Callable


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident set size in MB of `pid` (default: this process); None if unreadable."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    if pid != "self":
        return None
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # no /proc (macOS): best available
    return kb / 2**20 if sys.platform == "darwin" else kb / 1024


def reset_peak_rss() -> bool:
    """Start this process's high-water mark afresh (Linux 4.0+: "5" to /proc/self/clear_refs),
    so `peak_rss_mb()` then reads the peak since now; False where the kernel does not allow it
    (the peak then counts from the process's start)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class PeakSampler:
    """The peak of `read()` (bytes; None when there is nothing to read) since start, sampled
    in a thread every `interval` seconds after `start()`, and at every `sample()`. A reading
    that raises stops the sampling; `note` says why and the peak so far is kept."""

    def __init__(self, read: Callable[[], int | None] | None, interval: float = 0.01, name: str = "memory") -> None:
        self._read = read
        self.interval = interval
        self.name = name
        self.note = ""
        self.before = self.peak = self._sample_once()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample_once(self) -> int | None:
        if self._read is None:
            return None
        try:
            return self._read()
        except Exception as exc:  # noqa: BLE001 - keep the peak so far; say why it stopped
            self.note = f"{self.name} reading failed: {exc}"
            self._read = None
            return None

    def sample(self) -> int | None:
        """Read now; returns the reading (None: not readable) and keeps the peak."""
        used = self._sample_once()
        if used is not None:
            self.peak = used if self.peak is None else max(self.peak, used)
        return used

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> "PeakSampler":
        if self._read is not None and self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def peak_above_start_mb(self) -> float | None:
        """Peak above the start reading, MiB, so far (None: not readable)."""
        self.sample()
        if self.before is None or self.peak is None:
            return None
        return (self.peak - self.before) / 2**20

    def halt(self) -> None:
        """Stop the thread (sampling on demand still works)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> "PeakSampler":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.halt()


def rss_reader(pid: int | None = None) -> Callable[[], int | None]:
    """Resident set size (bytes) of `pid` (default: this process); None once it is gone."""
    import psutil

    proc = psutil.Process(pid)

    def read() -> int | None:
        try:
            return proc.memory_info().rss
        except psutil.Error:
            return None

    return read


class RssSampler(PeakSampler):
    """Resident set size of a process (default: this one)."""

    def __init__(self, pid: int | None = None, interval: float = 0.005) -> None:
        super().__init__(rss_reader(pid), interval, name="rss")

    def current_mb(self) -> float | None:
        used = self.sample()
        return None if used is None else used / 2**20

    def stop(self) -> dict[str, Any]:
        self.halt()
        self.sample()
        if self.peak is None or self.before is None:
            return {}
        return {"peak_rss_mb": self.peak / 2**20, "rss_before_mb": self.before / 2**20,
                "rss_delta_mb": (self.peak - self.before) / 2**20}


class CellMemory:
    """What a cell records about memory: this process's RSS, sampled; on CUDA the device's
    memory in use (`GpuMemoryMonitor`, one measure for every runtime) and, through the
    `allocator` hooks (reset, peak MB), the runtime's own allocator peak (PyTorch's)."""

    def __init__(self, device: str, allocator: tuple[Callable[[str], None], Callable[[str], float | None]] | None = None,
                 sample_rss: bool = True) -> None:
        self.device = device
        self.cuda = device.startswith("cuda")
        self.allocator = allocator if self.cuda else None
        self.rss = RssSampler().start() if sample_rss else None
        self.gpu = None
        if self.cuda:
            from whisperbench.gpu import GpuMemoryMonitor

            self.gpu = GpuMemoryMonitor(device).start()
        self._stopped = False

    def reset_allocator(self) -> None:
        """Start the allocator's peak afresh (once the device is in use: a cell calls it
        when its runtime has loaded, or before, to count the load)."""
        if self.allocator is not None:
            self.allocator[0](self.device)

    def allocator_peak_mb(self) -> float | None:
        return self.allocator[1](self.device) if self.allocator is not None else None

    def gpu_peak_mb(self) -> float | None:
        return self.gpu.peak_mb() if self.gpu is not None else None

    def stop(self) -> dict[str, Any]:
        """Every reading, once (later calls return {})."""
        if self._stopped:
            return {}
        self._stopped = True
        out: dict[str, Any] = self.rss.stop() if self.rss is not None else {}
        if self.gpu is not None:
            out.update(self.gpu.stop())
            allocator = self.allocator_peak_mb()
            if allocator is not None:
                out["gpu_allocated_peak_mb"] = allocator
        return out
