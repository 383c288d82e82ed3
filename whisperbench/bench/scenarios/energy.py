"""Energy over a measured interval, from the hardware's own counters, or nothing.

- CPU: RAPL through the Linux powercap interface (`/sys/class/powercap/intel-rapl:N/energy_uj`,
  the package domains; AMD's RAPL is exposed under the same names). It counts the whole
  package: other processes running meanwhile are in the figure (rows say whether the
  machine was loaded). The counter wraps at `max_energy_range_uj`.
- NVIDIA GPU: NVML's total energy counter (`nvmlDeviceGetTotalEnergyConsumption`, mJ,
  Volta and later), through nvidia-ml-py, as `whisperbench.gpu` uses for memory.

Where a counter cannot be read (no powercap folder, as on most VMs; permission denied; a
GPU without the counter) the reading carries no joules and its note says "not readable
here: <why>": no figure is estimated. (codecarbon was declined: it reads the same RAPL
files, but where they are not readable it estimates from the CPU's rated TDP, which is
the made-up figure rows must not hold; hence these few readers.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

POWERCAP = Path("/sys/class/powercap")


@dataclass
class EnergyReading:
    joules: float | None  # None: nothing could be read for the device asked
    sources: list[str] = field(default_factory=list)  # what was read ("rapl:package-0", "nvml:0")
    note: str | None = None  # why nothing (or not everything) was read


@dataclass
class _Counter:
    name: str
    read: Callable[[], float]  # joules so far
    wrap: float | None = None  # joules at which the counter wraps to 0


def rapl_counters(root: Path = POWERCAP) -> tuple[list[_Counter], str | None]:
    """The readable RAPL package counters, and why none (or some) could not be read."""
    if not root.is_dir():
        return [], f"RAPL: {root} does not exist"
    domains = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)
    if not domains:
        return [], f"RAPL: no package domain under {root}"
    counters, problems = [], []
    for d in domains:
        energy = d / "energy_uj"
        try:
            float(energy.read_text())
            wrap = float((d / "max_energy_range_uj").read_text()) / 1e6
        except (OSError, ValueError) as exc:
            problems.append(f"{energy}: {exc.strerror if isinstance(exc, OSError) else exc}")
            continue
        label = (d / "name").read_text().strip() if (d / "name").is_file() else d.name
        counters.append(_Counter(f"rapl:{label}", lambda e=energy: float(e.read_text()) / 1e6, wrap))
    note = f"RAPL: {'; '.join(problems)}" if problems else None
    return counters, note


def nvml_counter(device: str) -> tuple[list[_Counter], str | None]:
    from whisperbench.gpu import nvml_energy_reader

    try:
        ident, read = nvml_energy_reader(device)
    except Exception as exc:  # no library, no driver, or no energy counter on this GPU
        return [], f"NVML energy of {device}: {type(exc).__name__}: {exc}"
    return [_Counter(f"nvml:{ident}", read)], None


class EnergyMeter:
    """Joules between `start()` and `stop()`: RAPL for the CPU, plus NVML on a CUDA device."""

    def __init__(self, device: str = "cpu", rapl_root: Path = POWERCAP) -> None:
        self.counters, notes = rapl_counters(rapl_root)
        self.notes = [notes] if notes else []
        if device.startswith("cuda"):
            gpu, note = nvml_counter(device)
            self.counters += gpu
            if note:
                self.notes.append(note)
        self._start: list[float] = []

    def start(self) -> "EnergyMeter":
        self._start = [c.read() for c in self.counters]
        return self

    def stop(self) -> EnergyReading:
        """Joules since `start()`; the note says which counters were not readable here and why
        (with some read, the joules are theirs alone)."""
        note = f"not readable here: {'; '.join(self.notes)}" if self.notes else None
        if not self.counters:
            return EnergyReading(None, [], note)
        total = 0.0
        for c, before in zip(self.counters, self._start):
            delta = c.read() - before
            if delta < 0 and c.wrap:
                delta += c.wrap
            total += delta
        return EnergyReading(total, [c.name for c in self.counters], note)
