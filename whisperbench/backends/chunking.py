"""The shared chunked long-form layer, for runtimes without a native chunked mode.

The audio is cut into windows of `chunk_length_s` that overlap by a third of a window
(the Transformers pipeline's default: a stride of chunk_length_s / 6 on each side), every
window is decoded independently as a short-form window by the backend (several per runtime
call where the runtime batches), and neighbouring windows are stitched where they agree:

1. Each window's text is split into words, each with a time: the runtime's word times when
   it gave them, else estimated by spreading a segment's words over the segment's span by
   character count (without timestamps the whole window is one segment).
2. At each junction, the words of the earlier window near the overlap are aligned with the
   words of the later window near the overlap (difflib's longest matching blocks on
   case- and punctuation-folded words). The cut is made in the middle of the longest run of
   agreeing words: the earlier window gives the words before it, the later window the words
   from it on. Words both windows heard are kept once; words only one window heard in full
   (a word cut in half at a window edge, a segment the model left unfinished at the end of
   its window) come from the window that heard them.
3. Where the windows share no word near the overlap (silence there), the cut is made by
   time: in the middle of the overlap, moved to where the earlier window's words end or the
   later window's words begin when one of them has no words there. Without timestamps there
   are no times to cut by, and every word of both windows is kept.

With placement "vad" the windows are first placed in silences: Silero VAD finds the pauses,
and each window ends in the middle of the longest pause in its second half (a sentence or
paragraph end more often than a breath), the next window starting there with no overlap (nothing to stitch: no word straddles a pause). Where a window has no
pause in its second half, it overlaps the next by a third and the two are stitched as above.
Long continuous speech then degrades to the overlap merge, never to a blind cut.

Every window is decoded with the same options, `initial_prompt` included: windows are
independent (no window is conditioned on another's text), so each gets the prompt as its
previous context, as faster-whisper's batched pipeline and the Transformers pipeline give it
to each of their chunks.

Results made here say `implementation = "whisperbench.chunking, <merge> (<runtime call>)"`,
and carry `window_boundaries` (the absolute times of the cuts) for the boundary diagnostics.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from whisperbench.audio import SAMPLE_RATE
from whisperbench.backends import vad
from whisperbench.options import DecodeOptions
from whisperbench.results import Segment, Word

IMPLEMENTATION = "whisperbench.chunking"
MERGE_METHOD = "overlap word alignment"
VAD_MERGE_METHOD = "windows cut in pauses found by Silero VAD, else overlap word alignment"
# Where windows go: "overlap" (fixed windows, every neighbour stitched) or "vad" (cut in pauses).
PLACEMENTS = {"overlap": MERGE_METHOD, "vad": VAD_MERGE_METHOD}
# Seconds each window shares with its neighbour, as a fraction of the window length:
# the Transformers pipeline's default stride, chunk_length_s / 6 on each side.
OVERLAP_FRACTION = 1 / 3
TIME_PRECISION = 0.02  # seconds per Whisper timestamp token

_FOLD = re.compile(r"[^\w]+")
_WORD = re.compile(r"\s*\S+")


def implementation(runtime_call: str, placement: str = "overlap") -> str:
    return f"{IMPLEMENTATION}, {PLACEMENTS[placement]} ({runtime_call})"


def choose(backend, choices: dict[str, str], default: str) -> str:
    """Read `-O chunking=` from a backend's load options, check it against `choices` (name ->
    implementation string), and make the instance's capabilities name the implementation it
    runs (rows record it). Returns the name chosen."""
    from whisperbench.errors import UnsupportedOptionError

    name = str(backend.load_options.extra.get("chunking", default))
    if name not in choices:
        raise UnsupportedOptionError(f"chunking={name!r}: choose one of {', '.join(choices)}")
    base = type(backend).capabilities
    backend.capabilities = dataclasses.replace(base, algorithms={**base.algorithms, "chunked": choices[name]})
    return name


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # first sample
    end: int  # one past the last sample
    # How this window meets the previous one: "overlap" (stitched) or "pause" (cut in silence).
    joined: str = "overlap"

    @property
    def offset(self) -> float:
        return self.start / SAMPLE_RATE

    @property
    def end_seconds(self) -> float:
        return self.end / SAMPLE_RATE


@dataclass
class WindowResult:
    """What a backend returns for one chunk: segments with chunk-relative times."""

    segments: list[Segment]
    language: str | None = None
    language_probability: float | None = None


# A backend's window decoder: chunks (each at most 30 s) -> one WindowResult per chunk.
DecodeWindows = Callable[[list[np.ndarray], DecodeOptions], list[WindowResult]]


def plan(n_samples: int, chunk_length_s: float, overlap_s: float) -> list[Chunk]:
    """Window boundaries for `n_samples` of audio: windows of `chunk_length_s`, each
    starting `chunk_length_s - overlap_s` after the previous one, the last one reaching
    the end of the audio."""
    length = max(1, int(round(chunk_length_s * SAMPLE_RATE)))
    overlap = int(round(overlap_s * SAMPLE_RATE))
    if not 0 <= overlap < length:
        raise ValueError(f"overlap {overlap_s} s must be in [0, chunk length {chunk_length_s} s)")
    step = length - overlap
    starts = [0]
    while starts[-1] + length < n_samples:
        starts.append(starts[-1] + step)
    return [Chunk(i, s, min(s + length, n_samples)) for i, s in enumerate(starts)]


def plan_in_pauses(
    n_samples: int, chunk_length_s: float, overlap_s: float, pauses: Sequence[tuple[int, int]]
) -> list[Chunk]:
    """Windows of at most `chunk_length_s`, each ending in the middle of the longest pause
    (sample ranges) whose middle lies in its second half, the next starting there; a window
    with no such pause is full length and overlaps the next by `overlap_s`."""
    length = max(1, int(round(chunk_length_s * SAMPLE_RATE)))
    overlap = int(round(overlap_s * SAMPLE_RATE))
    if not 0 <= overlap < length:
        raise ValueError(f"overlap {overlap_s} s must be in [0, chunk length {chunk_length_s} s)")
    middles = sorted(((a + b) // 2, b - a) for a, b in pauses)
    chunks: list[Chunk] = []
    start, joined = 0, "overlap"
    while True:
        if start + length >= n_samples:
            chunks.append(Chunk(len(chunks), start, n_samples, joined))
            return chunks
        inside = [(width, m) for m, width in middles if start + length // 2 <= m <= start + length]
        if inside:
            cut = max(inside)[1]
            chunks.append(Chunk(len(chunks), start, cut, joined))
            start, joined = cut, "pause"
        else:
            chunks.append(Chunk(len(chunks), start, start + length, joined))
            start, joined = start + length - overlap, "overlap"


@dataclass(frozen=True)
class _Word:
    text: str  # as decoded, with its leading space
    key: str  # folded for matching
    start: float  # absolute seconds (estimated when the runtime gave no word times)
    end: float
    chunk: int
    segment: int  # index into that chunk's segments
    position: int  # index among that segment's words
    of: int  # how many words that segment has

    @property
    def mid(self) -> float:
        return (self.start + self.end) / 2


def _fold(text: str) -> str:
    return _FOLD.sub("", text.lower())


def _absolute(seg: Segment, chunk: Chunk) -> Segment:
    """A chunk-relative segment moved to absolute time, clamped inside the chunk."""
    lo, hi = chunk.offset, chunk.end_seconds
    start = min(max(seg.start + lo, lo), hi)
    end = min(max(seg.end + lo, start), hi)
    words = None
    if seg.words is not None:
        words = tuple(
            dataclasses.replace(w, start=min(max(w.start + lo, lo), hi), end=min(max(w.end + lo, lo), hi))
            for w in seg.words
        )
    return dataclasses.replace(seg, start=start, end=end, words=words)


def _words(chunk: Chunk, segments: Sequence[Segment]) -> list[_Word]:
    out: list[_Word] = []
    for k, seg in enumerate(segments):
        if seg.words:
            n = len(seg.words)
            out.extend(
                _Word(w.word, _fold(w.word), w.start, max(w.end, w.start), chunk.index, k, p, n)
                for p, w in enumerate(seg.words)
            )
            continue
        pieces = _WORD.findall(seg.text)
        total = sum(len(p.strip()) for p in pieces) or 1
        t, span = seg.start, seg.end - seg.start
        for p, piece in enumerate(pieces):
            dt = span * len(piece.strip()) / total
            out.append(_Word(piece, _fold(piece), t, t + dt, chunk.index, k, p, len(pieces)))
            t += dt
    return out


def _junction(
    before: list[_Word], after: list[_Word], overlap: tuple[float, float], timed: bool, previous: int
) -> tuple[int, int, float]:
    """Where to stitch: (words of `before` to keep, first word of `after` to keep, cut time).

    With timestamps the words' times are good to a fraction of a second, so only the words
    near the overlap are aligned, and without a common word the cut is made by time. Without
    timestamps the times are guesses (a window's words spread evenly over it), so both whole
    windows are aligned, and windows with no word in common are assumed to have shared only
    silence: every word of both is kept."""
    ov_start, ov_end = overlap
    if timed:
        margin = max(2.0, (ov_end - ov_start) / 2)
        a0 = next((i for i, w in enumerate(before) if w.mid >= ov_start - margin), len(before))
        b1 = next((i for i, w in enumerate(after) if w.mid > ov_end + margin), len(after))
    else:  # the earlier window's words only, not everything stitched so far
        a0 = next((i for i, w in enumerate(before) if w.chunk >= previous), len(before))
        b1 = len(after)
    a_keys = [w.key for w in before[a0:]]
    b_keys = [w.key for w in after[:b1]]
    blocks = [m for m in difflib.SequenceMatcher(None, a_keys, b_keys, autojunk=False).get_matching_blocks()
              if m.size and any(a_keys[m.a:m.a + m.size])]
    if blocks:
        centre = (ov_start + ov_end) / 2
        best = max(blocks, key=lambda m: (m.size, -abs(before[a0 + m.a].mid - centre)))
        half = best.size // 2
        i, j = a0 + best.a + half, best.b + half
        return i, j, after[j].start if j < len(after) else before[i - 1].end
    if not timed:
        return len(before), 0, ov_end
    cut = (ov_start + ov_end) / 2
    last_before = before[-1].end if before else ov_start
    first_after = after[0].start if after else ov_end
    if last_before < cut:  # the earlier window heard nothing after this
        cut = last_before
    elif first_after > cut:  # the later window heard nothing before this
        cut = first_after
    i = next((k for k, w in enumerate(before) if w.mid >= cut), len(before))
    j = next((k for k, w in enumerate(after) if w.mid >= cut), len(after))
    return i, j, cut


def merge(
    chunks: Sequence[Chunk], results: Sequence[Sequence[Segment]], duration: float, timed: bool = True
) -> tuple[list[Segment], list[float]]:
    """Stitch the chunks' segments (chunk-relative times) into one absolute timeline.
    `timed`: the segments carry predicted timestamps (else one segment per window).
    Returns the segments and the time of each cut."""
    absolute = [[_absolute(s, c) for s in segs] for c, segs in zip(chunks, results)]
    kept: list[_Word] = []
    cuts: list[float] = []
    for c, segs in zip(chunks, absolute):
        words = _words(c, segs)
        if c.index == 0:
            kept = words
            continue
        if c.joined == "pause":  # the windows touch in silence: nothing to stitch
            kept = kept + words
            cuts.append(round(c.offset, 3))
            continue
        overlap = (c.offset, chunks[c.index - 1].end_seconds)
        i, j, cut = _junction(kept, words, overlap, timed, c.index - 1)
        kept = kept[:i] + words[j:]
        cuts.append(round(cut, 3))
    return _segments(kept, absolute, duration), cuts


def _segments(words: list[_Word], absolute: list[list[Segment]], duration: float) -> list[Segment]:
    """Rebuild segments from the kept words: a segment kept whole is returned as the
    runtime made it; a segment cut at a junction keeps its kept words, their span, and
    their share of its tokens (by word count: tokens are not mapped to words here)."""
    out: list[Segment] = []
    groups: list[list[_Word]] = []
    for w in words:
        if groups and (groups[-1][0].chunk, groups[-1][0].segment) == (w.chunk, w.segment):
            groups[-1].append(w)
        else:
            groups.append([w])
    for group in groups:
        seg = absolute[group[0].chunk][group[0].segment]
        first, last, n = group[0].position, group[-1].position + 1, group[0].of
        if (first, last) == (0, n):
            start, end, text, tokens, seg_words = seg.start, seg.end, seg.text, seg.tokens, seg.words
        else:
            start, end = group[0].start, group[-1].end
            text = "".join(w.text for w in group)
            t = len(seg.tokens)
            tokens = seg.tokens[round(t * first / n):round(t * last / n)]
            seg_words = seg.words[first:last] if seg.words else None
        if out:
            start = max(start, out[-1].start)
        start = min(round(start, 3), duration)
        end = min(round(max(end, start), 3), duration)
        out.append(dataclasses.replace(seg, start=start, end=end, text=text, tokens=tuple(tokens), words=seg_words))
    return out


def transcribe_chunked(
    samples: np.ndarray, options: DecodeOptions, decode_windows: DecodeWindows, placement: str = "overlap"
) -> tuple[list[Segment], WindowResult, dict]:
    """Split, decode `options.batch_size` chunks per call, merge. Returns the merged
    segments, the first chunk's result (for the language), and facts for `extra`.
    `placement`: "overlap" or "vad" (see the module docstring)."""
    overlap = options.chunk_length_s * OVERLAP_FRACTION
    placed: dict = {}
    if placement == "vad":
        params = vad.VadParams()
        chunks = plan_in_pauses(len(samples), options.chunk_length_s, overlap, vad.silences(samples, params))
        placed = {"vad": vad.provider(), "vad_params": params.to_dict(),
                  "cuts_in_pauses": sum(c.joined == "pause" for c in chunks)}
    elif placement == "overlap":
        chunks = plan(len(samples), options.chunk_length_s, overlap)
    else:
        raise ValueError(f"placement {placement!r}: choose one of {', '.join(PLACEMENTS)}")
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
    segments, cuts = merge(chunks, [r.segments for r in results], duration, options.timestamps)
    extra = {
        "chunks": len(chunks),
        "chunk_length_s": options.chunk_length_s,
        "chunk_overlap_s": round(overlap, 3),
        "merge": PLACEMENTS[placement],
        "window_boundaries": cuts,
        **placed,
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
