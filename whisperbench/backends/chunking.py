"""The shared chunked long-form layer, for runtimes without a native chunked mode.

The audio is split into chunks of `chunk_length_s` that overlap by `overlap_s`; each
chunk is decoded independently as a short-form window by the backend (several chunks
per runtime call where the runtime batches), and the per-chunk segments are merged by
their timestamps: every chunk "owns" the time from the middle of the overlap with its
predecessor to the middle of the overlap with its successor, and keeps the segments
whose midpoint lies in that span. A segment whose midpoint falls before the end of the
last kept segment (the same words, seen by two chunks) is dropped.

Without timestamps there is nothing to merge on, so chunks are laid end to end with no
overlap (as faster-whisper's batched pipeline does).

Results made here say `implementation = "whisperbench.chunking (<runtime call>)"`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from whisperbench.audio import SAMPLE_RATE
from whisperbench.options import DecodeOptions
from whisperbench.results import Segment

IMPLEMENTATION = "whisperbench.chunking"
# Seconds of each chunk shared with its neighbour, as a fraction of the chunk length
# (the transformers pipeline's default stride is chunk_length_s / 6 on each side).
OVERLAP_FRACTION = 1 / 6
TIME_PRECISION = 0.02  # seconds per Whisper timestamp token


def implementation(runtime_call: str) -> str:
    return f"{IMPLEMENTATION} ({runtime_call})"


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # first sample
    end: int  # one past the last sample
    keep_from: float  # seconds (absolute): this chunk owns [keep_from, keep_until)
    keep_until: float

    @property
    def offset(self) -> float:
        return self.start / SAMPLE_RATE


@dataclass
class WindowResult:
    """What a backend returns for one chunk: segments with chunk-relative times."""

    segments: list[Segment]
    language: str | None = None
    language_probability: float | None = None


# A backend's window decoder: chunks (each at most 30 s) -> one WindowResult per chunk.
DecodeWindows = Callable[[list[np.ndarray], DecodeOptions], list[WindowResult]]


def plan(n_samples: int, chunk_length_s: float, overlap_s: float) -> list[Chunk]:
    """Chunk boundaries for `n_samples` of audio."""
    length = max(1, int(round(chunk_length_s * SAMPLE_RATE)))
    overlap = int(round(overlap_s * SAMPLE_RATE))
    if not 0 <= overlap < length:
        raise ValueError(f"overlap {overlap_s} s must be in [0, chunk length {chunk_length_s} s)")
    step = length - overlap
    starts = [0]
    while starts[-1] + length < n_samples:
        starts.append(starts[-1] + step)
    chunks = []
    for i, s in enumerate(starts):
        keep_from = 0.0 if i == 0 else (s + overlap / 2) / SAMPLE_RATE
        keep_until = float("inf") if i == len(starts) - 1 else (starts[i + 1] + overlap / 2) / SAMPLE_RATE
        chunks.append(Chunk(i, s, min(s + length, n_samples), keep_from, keep_until))
    return chunks


def merge(chunks: Sequence[Chunk], results: Sequence[Sequence[Segment]], duration: float) -> list[Segment]:
    """Shift each chunk's segments to absolute time and keep the ones the chunk owns."""
    merged: list[Segment] = []
    for chunk, segments in zip(chunks, results):
        chunk_end = chunk.end / SAMPLE_RATE
        for seg in segments:
            start = min(max(seg.start + chunk.offset, chunk.offset), chunk_end)
            end = min(max(seg.end + chunk.offset, start), chunk_end)
            mid = (start + end) / 2
            if not (chunk.keep_from <= mid < chunk.keep_until):
                continue
            if merged and mid < merged[-1].end:
                continue  # already transcribed by the previous chunk
            if merged:
                start = max(start, merged[-1].start)
            merged.append(
                dataclasses.replace(
                    seg,
                    start=round(min(start, duration), 3),
                    end=round(min(max(end, start), duration), 3),
                    words=_shift_words(seg, chunk.offset),
                )
            )
    return merged


def _shift_words(seg: Segment, offset: float):
    if seg.words is None:
        return None
    return tuple(dataclasses.replace(w, start=w.start + offset, end=w.end + offset) for w in seg.words)


def transcribe_chunked(
    samples: np.ndarray, options: DecodeOptions, decode_windows: DecodeWindows
) -> tuple[list[Segment], WindowResult, dict]:
    """Split, decode `options.batch_size` chunks per call, merge. Returns the merged
    segments, the first chunk's result (for the language), and facts for `extra`."""
    overlap = options.chunk_length_s * OVERLAP_FRACTION if options.timestamps else 0.0
    chunks = plan(len(samples), options.chunk_length_s, overlap)
    windows = [samples[c.start:c.end] for c in chunks]
    results: list[WindowResult] = []
    opts = options
    for i in range(0, len(windows), options.batch_size):
        batch = decode_windows(windows[i:i + options.batch_size], opts)
        if len(batch) != len(windows[i:i + options.batch_size]):
            raise RuntimeError("backend returned a different number of chunk results than chunks")
        results.extend(batch)
        if opts.language is None and results[0].language is not None:
            # Detect once, from the first chunk; later chunks decode in that language.
            opts = opts.replace(language=results[0].language)
    duration = len(samples) / SAMPLE_RATE
    segments = merge(chunks, [r.segments for r in results], duration)
    extra = {
        "chunks": len(chunks),
        "chunk_length_s": options.chunk_length_s,
        "chunk_overlap_s": round(overlap, 3),
    }
    return segments, results[0], extra


def segments_from_tokens(
    tokens: Sequence[int],
    timestamp_begin: int,
    eot: int,
    decode: Callable[[list[int]], str],
    duration: float,
    **fields,
) -> list[Segment]:
    """Split one window's generated tokens into segments at timestamp tokens.

    `<|0.00|> text <|2.00|><|2.00|> more <|5.00|>` gives two segments; text after the
    last timestamp (the window ran out) becomes a segment ending at `duration`; without
    timestamp tokens the whole window is one segment. `fields` (avg_logprob, ...) are
    copied onto every segment.
    """
    segments: list[Segment] = []
    start: float | None = None
    last_time = 0.0
    text: list[int] = []

    def close(end: float) -> None:
        s = start if start is not None else last_time
        segments.append(
            Segment(start=s, end=max(end, s), text=decode(text), tokens=tuple(text), **fields)
        )

    for tok in tokens:
        tok = int(tok)
        if tok >= timestamp_begin:
            t = (tok - timestamp_begin) * TIME_PRECISION
            if text:
                close(t)
                text = []
                start = None
            else:
                start = t
            last_time = t
        elif tok < eot:
            if start is None:
                start = last_time
            text.append(tok)
    if text:
        close(max(duration, start or 0.0))
    return segments
