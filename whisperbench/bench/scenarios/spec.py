"""What a scenario asks for: the `[[scenarios]]` tables of a suite file and the quick-form
flags both become `ScenarioSpec`s, validated here, all problems reported at once.

Suite file::

    [[scenarios]]
    kind = "offline"            # the whole dataset issued at once
    batch_sizes = [1, 2, 4, 8]  # one LoadGen run per size (> 1 where the runtime batches)
    repeats = 1                 # runs per batch size (compare's statistics use their spread)

    [[scenarios]]
    kind = "server"             # Poisson arrivals
    instances = 1               # model instances serving one queue
    batch_size = 1              # > 1: dynamic batching, up to this many per call
    batch_timeout_ms = 0        # how long an idle instance waits for a batch to fill
    rates = [1.0, 2.0]          # fixed arrival rates (queries/s) to measure
    find_max_rate = true        # search the highest rate meeting the latency target
    target_latency_s = 2.0
    percentile = 90             # of latency (issue to completion): 50, 90, 95, 97, 99, 99.9
    queries = 100               # queries per rate (more: tighter percentiles, longer runs)
    search_steps = 6            # LoadGen runs the rate search may use

Engines, datasets and decoding options come from the rest of the suite; a scenario runs
on every engine x dataset (short-form algorithms only: a query is one utterance).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from whisperbench.errors import WhisperbenchError

KINDS = ("offline", "server")
# The latency percentiles mlperf_log_summary.txt reports.
PERCENTILES = (50.0, 90.0, 95.0, 97.0, 99.0, 99.9)
KEYS = {"kind", "name", "batch_sizes", "batch_size", "instances", "batch_timeout_ms", "rates", "find_max_rate",
        "target_latency_s", "percentile", "queries", "search_steps", "repeats", "min_duration_s"}
DEFAULT_BATCH_SIZES = (1, 2, 4, 8)


@dataclass(frozen=True)
class ScenarioSpec:
    kind: str  # "offline" | "server"
    name: str = ""
    batch_sizes: tuple[int, ...] = (1,)  # offline: the sweep; server: one value, the dynamic batch limit
    instances: int = 1
    batch_timeout_ms: float = 0.0
    rates: tuple[float, ...] = ()
    find_max_rate: bool = True
    target_latency_s: float = 2.0
    percentile: float = 90.0
    queries: int = 0  # offline: samples issued (0: the dataset once); server: per rate (0: 100)
    search_steps: int = 6
    repeats: int = 1
    min_duration_s: float = 0.0  # LoadGen's min_duration (0: the query count alone ends a run)

    @property
    def label(self) -> str:
        return self.name or self.kind

    @property
    def server_queries(self) -> int:
        return self.queries or 100

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["batch_sizes"], d["rates"] = list(self.batch_sizes), list(self.rates)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ScenarioSpec":
        """A spec back from `to_dict()` (a child process's job)."""
        return cls(**{**d, "batch_sizes": tuple(d["batch_sizes"]), "rates": tuple(d["rates"])})

    def row_fields(self) -> dict[str, Any]:
        """The fields every row of this scenario carries (with the cell's identity): which
        scenario, its instances and batch timeout; for Server also its batch size and target."""
        fields = {"scenario": self.kind, "scenario_name": self.label, "instances": self.instances,
                  "batch_timeout_ms": self.batch_timeout_ms}
        if self.kind == "server":
            fields.update(batch_size=self.batch_sizes[0], target_latency_s=self.target_latency_s,
                          latency_percentile=self.percentile)
        return fields


def _positive_ints(value: Any) -> tuple[int, ...] | None:
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values):
        return None
    return tuple(values)


def parse(raw: dict[str, Any], where: str, problems: list[str]) -> ScenarioSpec | None:
    """One `[[scenarios]]` table (or the quick form's equivalent); None with `problems` filled."""
    if not isinstance(raw, dict):
        problems.append(f"{where} must be a table")
        return None
    n = len(problems)
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(KEYS))}")
    kind = raw.get("kind")
    if kind not in KINDS:
        problems.append(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if "batch_sizes" in raw and "batch_size" in raw:
        problems.append(f"{where}: give batch_sizes or batch_size, not both")
    default = DEFAULT_BATCH_SIZES if kind == "offline" else (1,)
    sizes = _positive_ints(raw.get("batch_sizes", raw.get("batch_size", default)))
    if sizes is None:
        problems.append(f"{where}: batch sizes must be integers >= 1")
        sizes = (1,)
    if kind == "server" and len(sizes) != 1:
        problems.append(f"{where}: a server scenario takes one batch_size (the dynamic batching limit)")
    rates = raw.get("rates", [])
    rates = rates if isinstance(rates, (list, tuple)) else [rates]
    if any(isinstance(r, bool) or not isinstance(r, (int, float)) or r <= 0 for r in rates):
        problems.append(f"{where}: rates must be numbers > 0 (queries per second)")
        rates = []
    find = raw.get("find_max_rate", kind == "server")
    if not isinstance(find, bool):
        problems.append(f"{where}: find_max_rate must be true or false")
    if kind == "server" and not rates and not find:
        problems.append(f"{where}: a server scenario needs rates or find_max_rate = true")
    if kind == "offline" and (rates or raw.get("find_max_rate")):
        problems.append(f"{where}: rates and find_max_rate belong to server scenarios")
    percentile = raw.get("percentile", 90.0)
    if percentile not in PERCENTILES:
        problems.append(f"{where}: percentile must be one of {', '.join(f'{p:g}' for p in PERCENTILES)} "
                        "(the ones LoadGen reports)")
    numbers = {}
    for key, default_value, minimum in (("instances", 1, 1), ("queries", 0, 0), ("search_steps", 6, 1),
                                         ("repeats", 1, 1)):
        v = raw.get(key, default_value)
        if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
            problems.append(f"{where}: {key} must be an integer >= {minimum}, got {v!r}")
            v = default_value
        numbers[key] = v
    for key, default_value, positive in (("target_latency_s", 2.0, True), ("batch_timeout_ms", 0.0, False),
                                         ("min_duration_s", 0.0, False)):
        v = raw.get(key, default_value)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (positive and v == 0):
            problems.append(f"{where}: {key} must be a number {'>' if positive else '>='} 0, got {v!r}")
            v = default_value
        numbers[key] = float(v)
    if kind == "offline" and numbers["instances"] != 1:
        problems.append(f"{where}: an offline scenario runs one instance (its batch size is the sweep)")
    if len(problems) > n:
        return None
    return ScenarioSpec(kind=kind, name=str(raw.get("name", "")), batch_sizes=sizes, rates=tuple(float(r) for r in rates),
                        find_max_rate=bool(find), percentile=float(percentile), **numbers)


def parse_all(raw: Any) -> list[ScenarioSpec]:
    """Every `[[scenarios]]` table; raises one WhisperbenchError listing every problem."""
    tables = raw if isinstance(raw, list) else [raw]
    problems: list[str] = []
    specs = [parse(t, f"scenarios[{i}]", problems) for i, t in enumerate(tables)]
    if problems:
        raise WhisperbenchError("invalid scenarios:\n  - " + "\n  - ".join(problems))
    return [s for s in specs if s is not None]
