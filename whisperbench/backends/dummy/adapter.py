"""A backend without a model, so the harness and CLI are testable without a runtime.

It "transcribes" by returning a scripted text; `LoadOptions.extra` can make it slow,
wrong, or crash, to exercise error handling and regression gates.
"""

from __future__ import annotations

import os
import time

import numpy as np

from whisperbench.audio import duration_seconds
from whisperbench.backends.base import Backend, Capabilities, RawResult
from whisperbench.backends.dummy import SPEC
from whisperbench.options import DecodeOptions, LoadOptions
from whisperbench.results import Segment


class DummyBackend(Backend):
    name = "dummy"
    capabilities = Capabilities(
        model_format=SPEC.weight_format,
        algorithms={"short": "dummy", "sequential": "dummy", "chunked": "dummy"},
        # "cuda" too: it uses no device, so scheduling (a GPU per cuda cell) is testable anywhere.
        compute_types={"cpu": ("float32",), "cuda": ("float32",)},
        batching=True,
        extra_options={
            "text": "the transcript to return for every input (default: 'hello world')",
            "seconds_per_audio_second": "sleep this long per second of audio, to simulate compute",
            "service_time_s": "sleep this long in each runtime call (a batch is one call): a known service time "
            "for load tests",
            "drop_words": "drop every n-th word of `text` (injects errors)",
            "echo_env": "return the value of this environment variable instead of `text` (shows where a cell ran, "
            "e.g. its CUDA_VISIBLE_DEVICES)",
            "crash": "'abort' aborts the process, 'segfault' reads address 0, 'raise' raises, on every call",
            "crash_after": "let this many calls succeed before `crash` / `hang` / `allocate_mb` apply",
            "hang": "sleep this many seconds in each call (true: forever), to exercise timeouts",
            "allocate_mb": "allocate and touch this much memory in each call, to exercise memory limits",
        },
    )

    def _load(self, model: str, load_options: LoadOptions) -> None:
        self.extra = dict(load_options.extra)
        self.calls = 0
        self._hoard: list[np.ndarray] = []  # allocate_mb blocks, kept resident

    @classmethod
    def runtime_version(cls) -> str:
        return "dummy"

    @classmethod
    def _device_available(cls, kind: str) -> bool:
        return True

    def _script(self) -> str:
        if "echo_env" in self.extra:
            name = str(self.extra["echo_env"])
            return os.environ.get(name, f"{name} unset")
        words = str(self.extra.get("text", "hello world")).split()
        n = int(self.extra.get("drop_words", 0))
        if n > 0:
            words = [w for i, w in enumerate(words, 1) if i % n]
        return " ".join(words)

    def _transcribe(self, samples: np.ndarray, options: DecodeOptions) -> RawResult:
        self._serve()
        return self._one(samples, options)

    def _serve(self) -> None:
        time.sleep(float(self.extra.get("service_time_s", 0.0)))

    def _one(self, samples: np.ndarray, options: DecodeOptions) -> RawResult:
        self.calls += 1
        if self.calls > int(self.extra.get("crash_after", 0)):
            misbehave(self.extra, self._hoard)
        seconds = duration_seconds(samples)
        time.sleep(float(self.extra.get("seconds_per_audio_second", 0.0)) * seconds)
        text = self._script()
        tokens = tuple(range(len(text.split())))
        return RawResult(segments=[Segment(0.0, seconds, " " + text, tokens)], language=options.language or "en")

    def _transcribe_batch(self, batch: list[np.ndarray], options: DecodeOptions) -> list[RawResult]:
        self._serve()
        return [self._one(s, options) for s in batch]


def misbehave(extra: dict, hoard: list) -> None:
    """Do what `extra` asks (crash / hang / allocate_mb, as documented above); shared with
    the synthetic benchmark's dummy runner."""
    crash = extra.get("crash")
    if crash == "abort":
        os.abort()
    if crash == "segfault":
        import ctypes

        ctypes.string_at(0)  # SIGSEGV
    if crash == "raise":
        raise RuntimeError("dummy backend asked to fail")
    hang = extra.get("hang")
    if hang is True or str(hang).lower() == "true":
        while True:
            time.sleep(3600)
    if hang:
        time.sleep(float(hang))
    mb = int(extra.get("allocate_mb", 0))
    if mb > 0:
        hoard.append(np.ones(mb * 2**20, dtype=np.uint8))  # touched, so it is resident
