"""The dummy's synthetic-timing primitives: no runtime and no weights; sleeps instead of
computing and can misbehave like the dummy backend (crash, hang, allocate), so the
synthetic orchestration is testable in milliseconds."""

from __future__ import annotations

import time

from whisperbench.backends.dummy.adapter import DummyBackend, misbehave
from whisperbench.backends.synthetic_base import Inputs, SyntheticPrimitives


class DummyPrimitives(SyntheticPrimitives):
    backend = "dummy"
    method = "a sleep per token"
    needs_weights = False
    compute_types = ("float32",)
    mel_bins = None
    option_help = {
        "encoder_seconds": "sleep this long for the encoder (default 0.002)",
        "seconds_per_token": "sleep this long per decoded token (default 0.0005)",
        **{k: DummyBackend.capabilities.extra_options[k] for k in ("crash", "hang", "allocate_mb")},
    }

    def load(self) -> None:
        self.hoard: list = []
        self.batch = 1

    def prepare(self, inputs: Inputs) -> None:
        self.batch = len(inputs.features)

    def encode(self) -> float:
        t0 = time.perf_counter()
        time.sleep(float(self.options.get("encoder_seconds", 0.002)))
        return time.perf_counter() - t0

    def generate(self, n: int) -> tuple[float, list[int]]:
        t0 = time.perf_counter()
        misbehave(self.options, self.hoard)
        self.encode()
        self.decode(n)
        return time.perf_counter() - t0, [n] * self.batch

    def decode(self, n: int) -> tuple[float, list[int]]:
        t0 = time.perf_counter()
        time.sleep(n * float(self.options.get("seconds_per_token", 0.0005)))
        return time.perf_counter() - t0, [n] * self.batch

    def close(self) -> None:
        self.hoard.clear()
