"""Decode option vad='silero', the same for every backend: Silero VAD finds the speech
regions, the backend decodes only them (joined end to end, as faster-whisper's own
`vad_filter` does), and every timestamp is mapped back to the original audio.

The joined speech is one input to the backend, decoded with the same options: an
`initial_prompt` is the context of its first window (sequential) or of every chunk
(chunked), as without VAD; regions are not prompted one by one.

`Backend.transcribe` calls `transcribe_speech` inside its timed region, so the detection
counts in decode_seconds; it is also reported alone in extra['vad_seconds'].
"""

from __future__ import annotations

import bisect
import dataclasses
import time
from typing import Callable, Sequence

import numpy as np

from whisperbench.audio import SAMPLE_RATE
from whisperbench.backends import vad
from whisperbench.options import DecodeOptions
from whisperbench.results import Segment


def params(options: DecodeOptions) -> vad.VadParams:
    return vad.VadParams(threshold=options.vad_threshold, min_silence_ms=options.vad_min_silence_ms,
                         speech_pad_ms=options.vad_speech_pad_ms)


class TimeMap:
    """Times in the joined speech -> times in the original audio (seconds)."""

    def __init__(self, regions: Sequence[tuple[int, int]]) -> None:
        self.regions = list(regions)
        self.joined_starts = list(np.cumsum([0] + [b - a for a, b in self.regions[:-1]]))

    def __call__(self, t: float, *, end: bool = False) -> float:
        x = t * SAMPLE_RATE
        # An end exactly at a join belongs to the region before it, a start to the one after.
        k = (bisect.bisect_left if end else bisect.bisect_right)(self.joined_starts, x) - 1
        k = min(max(k, 0), len(self.regions) - 1)
        a, b = self.regions[k]
        return min(a + (x - self.joined_starts[k]), b) / SAMPLE_RATE

    def segment(self, s: Segment) -> Segment:
        words = None
        if s.words is not None:
            words = tuple(dataclasses.replace(w, start=self(w.start), end=self(w.end, end=True)) for w in s.words)
        return dataclasses.replace(s, start=self(s.start), end=self(s.end, end=True), words=words)


def transcribe_speech(samples: np.ndarray, options: DecodeOptions,
                      decode: Callable[[np.ndarray, DecodeOptions], "RawResult"]) -> "RawResult":  # noqa: F821
    """Decode only the speech of `samples` with `decode` (a backend's `_transcribe`);
    no speech found: no words, and the backend is not called."""
    from whisperbench.backends.base import RawResult

    t0 = time.perf_counter()
    regions = vad.speech_regions(samples, params(options))
    vad_seconds = time.perf_counter() - t0
    extra = {"vad_seconds": vad_seconds, "vad_regions": len(regions), "vad_provider": vad.provider(),
             "vad_speech_seconds": sum(b - a for a, b in regions) / SAMPLE_RATE}
    if not regions:
        return RawResult(segments=[], language=options.language, text="", extra=extra)
    joined = np.concatenate([samples[a:b] for a, b in regions])
    raw = decode(joined, options.replace(vad="none"))
    tmap = TimeMap(regions)
    if raw.extra.get("window_boundaries") is not None:
        extra["window_boundaries"] = [tmap(t) for t in raw.extra["window_boundaries"]]
    return dataclasses.replace(raw, segments=[tmap.segment(s) for s in raw.segments], extra={**raw.extra, **extra})
