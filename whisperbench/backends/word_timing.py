"""Word timestamps from per-token times, shared by the adapters whose runtime times tokens
rather than words (transformers' cross-attention DTW, whisper.cpp's token timestamps), and
segments made of the word chunks a pipeline returns (transformers', Transformers.js's).

A word is a run of text tokens that starts with a token whose text begins with a space
(Whisper's byte-level BPE marks word starts that way), as openai-whisper's
`split_tokens_on_spaces`; in languages written without spaces every token is a word
(`split_tokens_on_unicode`'s granularity, near enough for timing). Punctuation tokens
(no leading space) stay with the word they follow. Each row records how its word times
were made (`extra['word_timing']`), one of `METHODS`.
"""

from __future__ import annotations

from typing import Callable, Sequence

from whisperbench.results import Segment, Word

# Cross-attention weights of the alignment heads, aligned to the audio frames by dynamic
# time warping (openai-whisper, faster-whisper, transformers' return_token_timestamps,
# Transformers.js's return_timestamps='word', whisper.cpp's DTW presets).
DTW = "dtw-cross-attention"
# The runtime's own per-token times from timestamp-token probabilities (whisper.cpp's
# token_timestamps, without DTW).
TOKEN_TIMESTAMPS = "token-timestamps"
METHODS = (DTW, TOKEN_TIMESTAMPS)


def words_from_tokens(
    tokens: Sequence[int],
    starts: Sequence[float],
    ends: Sequence[float],
    decode: Callable[[list[int]], str],
    probabilities: Sequence[float] | None = None,
    split_every_token: bool = False,
) -> tuple[Word, ...]:
    """Group text tokens with their times into words: a word starts at its first token's
    start and ends at its last token's end; its probability is the mean of its tokens'.
    `starts`/`ends` are parallel to `tokens` (seconds); special tokens must be left out."""
    if not (len(tokens) == len(starts) == len(ends)):
        raise ValueError(f"{len(tokens)} tokens but {len(starts)} starts and {len(ends)} ends")
    groups: list[list[int]] = []
    for k, tok in enumerate(tokens):
        piece = decode([int(tok)])
        if not groups or split_every_token or piece.startswith(" "):
            groups.append([k])
        else:
            groups[-1].append(k)
    words = []
    for g in groups:
        text = decode([int(tokens[k]) for k in g])
        if not text.strip():
            continue
        start, end = float(starts[g[0]]), float(ends[g[-1]])
        p = None if probabilities is None else float(sum(probabilities[k] for k in g) / len(g))
        words.append(Word(start=round(start, 3), end=round(max(end, start), 3), word=text, probability=p))
    return tuple(words)


def monotonic(words: Sequence[Word], lo: float, hi: float) -> tuple[Word, ...]:
    """Words with times clamped into [lo, hi] and never before the previous word's start
    (token times from attention can step back a frame)."""
    out: list[Word] = []
    for w in words:
        start = min(max(w.start, lo, out[-1].start if out else lo), hi)
        end = min(max(w.end, start), hi)
        out.append(Word(start=start, end=end, word=w.word, probability=w.probability))
    return tuple(out)


def sentences(words: Sequence[Word]) -> list[tuple[Word, ...]]:
    """Words given without segments (a runtime's word chunks) grouped into segments: a
    segment ends after a word ending in '.', '?' or '!'."""
    groups: list[list[Word]] = [[]]
    for w in words:
        groups[-1].append(w)
        if w.word.rstrip().endswith((".", "?", "!")):
            groups.append([])
    return [tuple(g) for g in groups if g]


def joined(words: Sequence[Word]) -> str:
    """The text of words as a segment holds it (each word with its leading space)."""
    return "".join(w.word if w.word.startswith(" ") else " " + w.word for w in words)


def chunk_words(chunks: Sequence[dict], offset: float, hi: float) -> list[Word]:
    """A pipeline's word chunks ({"timestamp": [start, end], "text": ...}, seconds from
    `offset`) as Words; a missing start is the offset, a missing end `hi` (the pipeline
    leaves the last word's end open when decoding stopped without end-of-text)."""
    words = []
    for c in chunks:
        start, end = c.get("timestamp") or (None, None)
        start = offset if start is None else offset + float(start)
        words.append(Word(start=round(start, 3), end=hi if end is None else round(offset + float(end), 3), word=c["text"]))
    return words


def word_segments(words: Sequence[Word], lo: float, hi: float,
                  tokens_of: Callable[[range], Sequence[int]]) -> list[Segment]:
    """Segments made of a pipeline's word chunks, which come without segment times: the words
    clamped into [lo, hi] and kept in order (`monotonic`), one segment per sentence
    (`sentences`). `tokens_of(indices)` gives the text tokens of `words[i] for i in indices`."""
    segments, k = [], 0
    for group in sentences(monotonic(words, lo, hi)):
        text = joined(group)
        tokens = tuple(int(t) for t in tokens_of(range(k, k + len(group))))
        k += len(group)
        segments.append(Segment(start=group[0].start, end=group[-1].end, text=text, tokens=tokens, words=group))
    return segments
