"""Typed transcription results. Options are echoed back so a result says how it was made."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from whisperbench.options import DecodeOptions


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float | None = None


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the start of the input
    end: float
    text: str
    tokens: tuple[int, ...] = ()  # generated text tokens (no special tokens)
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    temperature: float | None = None  # the temperature that produced it (fallback)
    words: tuple[Word, ...] | None = None


@dataclass(frozen=True)
class Timing:
    load_seconds: float  # model load of the backend instance that produced the result
    decode_seconds: float  # wall time of the whole decode, all outputs materialized
    audio_seconds: float  # input duration
    tokens_generated: int  # text tokens in the output

    @property
    def rtfx(self) -> float:
        return self.audio_seconds / self.decode_seconds if self.decode_seconds > 0 else float("inf")

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_generated / self.decode_seconds if self.decode_seconds > 0 else float("inf")


@dataclass(frozen=True)
class Transcription:
    text: str
    segments: tuple[Segment, ...]
    language: str | None  # detected, or the one forced by options.language
    language_probability: float | None
    options: DecodeOptions  # exactly what was asked for
    timing: Timing
    backend: str
    # Which code performed the algorithm, e.g. "faster_whisper.BatchedInferencePipeline"
    # or "whisperbench.chunking" for our shared chunking layer.
    implementation: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens(self) -> list[int]:
        return [t for s in self.segments for t in s.tokens]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["options"] = self.options.to_dict()
        d["timing"]["rtfx"] = self.timing.rtfx
        return d
