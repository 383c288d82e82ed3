"""Accuracy and repetition metrics for one utterance, and corpus-level aggregation.

WER is computed on text normalized by openai-whisper's normalizers (`whisperbench.text`:
English, or the basic one for other languages), with jiwer's alignment; CER on the same
strings, with whitespace removed for languages written without spaces (for them CER is
the primary metric). Per-utterance rows keep the raw edit
counts, so corpus WER is sum(S + D + I) / sum(reference words), exactly jiwer's
corpus WER over the same normalized strings.

An utterance whose normalized reference is empty (silence, music, a cut-out segment)
has no WER: every word transcribed there is a hallucination, counted in
`hallucinated_words`, and its edit counts are zero so it adds nothing to corpus WER or
CER (its insertions would otherwise land in WER's numerator with no reference words).
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np

from whisperbench.results import Segment
from whisperbench.text import normalize, primary_metric


@dataclass(frozen=True)
class Accuracy:
    reference_normalized: str
    hypothesis_normalized: str
    ref_words: int
    hits: int
    substitutions: int
    deletions: int
    insertions: int
    wer: float | None  # None when the normalized reference is empty
    ref_chars: int
    char_edits: int
    cer: float | None
    # Normalized reference empty: no WER/CER; the words transcribed anyway.
    empty_reference: bool = False
    hallucinated_words: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def accuracy(reference: str, hypothesis: str, language: str | None = None) -> Accuracy:
    """Scores of `hypothesis` against `reference`, both in `language` (None: English)."""
    ref = normalize(reference, language)
    hyp = normalize(hypothesis, language)
    ref_w, hyp_w = ref.split(), hyp.split()
    if not ref_w:  # nothing to score against: hallucination figures only (module docstring)
        return Accuracy(ref, hyp, 0, 0, 0, 0, 0, None, len(ref), 0, None,
                        empty_reference=True, hallucinated_words=len(hyp_w))
    import jiwer

    out = jiwer.process_words(ref, hyp) if hyp_w else None
    if out is None:  # jiwer rejects an empty hypothesis in some versions
        s, d, i, h = 0, len(ref_w), 0, 0
    else:
        s, d, i, h = out.substitutions, out.deletions, out.insertions, out.hits
    wer = (s + d + i) / len(ref_w)
    # CER on the normalized strings, spaces included (jiwer.cer convention), except in
    # languages written without spaces: there the normalizer's spaces (where punctuation
    # was) are not characters anyone wrote.
    ref_c, hyp_c = (("".join(ref.split()), "".join(hyp.split())) if primary_metric(language) == "cer"
                    else (ref, hyp))
    if hyp_c:
        c = jiwer.process_characters(ref_c, hyp_c)
        char_edits = c.substitutions + c.deletions + c.insertions
    else:
        char_edits = len(ref_c)
    cer = char_edits / len(ref_c)
    return Accuracy(ref, hyp, len(ref_w), h, s, d, i, wer, len(ref_c), char_edits, cer)


def corpus_wer(substitutions: Iterable[int], deletions: Iterable[int], insertions: Iterable[int], ref_words: Iterable[int]) -> float | None:
    errors = sum(substitutions) + sum(deletions) + sum(insertions)
    total = sum(ref_words)
    return errors / total if total else None


def repeated_ngram_share(text_normalized: str, n: int = 5) -> float:
    """Share of the word n-grams that repeat an earlier n-gram of the same text: 0 for
    text without repetition, approaching 1 for a decoder stuck in a loop (the
    hallucination signal the Distil-Whisper paper discusses for long-form)."""
    words = text_normalized.split()
    grams = [tuple(words[k : k + n]) for k in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    counts = Counter(grams)
    return sum(c - 1 for c in counts.values()) / len(grams)


def compression_ratio(text: str) -> float:
    """Bytes of the text over bytes of its zlib compression (Whisper's own fallback test:
    above 2.4 the text is repetitive enough to be a decoding loop). 0 for empty text."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def hallucinations_per_minute(words: int, audio_seconds: float) -> float:
    """Words transcribed per minute of audio that holds no speech."""
    return 60.0 * words / audio_seconds if audio_seconds > 0 else 0.0


# The `catastrophic` flag: no words at all on speech; WER (CER where words are not spaced) above 100 %; a repetition loop (a repeated 5-gram
# share above 0.5 or a compression ratio above Whisper's 2.4); on non-speech, more than
# this many words per minute (a stray "you" on 30 s of noise is not a catastrophe).
CATASTROPHIC_WER = 1.0
LOOP_NGRAM_SHARE = 0.5
LOOP_COMPRESSION_RATIO = 2.4
SILENCE_WORDS_PER_MINUTE = 10.0


def catastrophic(acc: Accuracy, audio_seconds: float, language: str | None = None) -> list[str]:
    """Why this output is a catastrophe (empty: it is not), from its accuracy figures (the
    error rate is the language's primary one: CER where words are not spaced)."""
    reasons = []
    if acc.ref_words and not acc.hypothesis_normalized:  # e.g. VAD found no speech in speech
        reasons.append("no words on speech")
    metric = primary_metric(language)
    rate = acc.cer if metric == "cer" else acc.wer
    if rate is not None and rate > CATASTROPHIC_WER:
        reasons.append(f"{metric} {rate:.0%}")
    share = repeated_ngram_share(acc.hypothesis_normalized, 5)
    ratio = compression_ratio(acc.hypothesis_normalized)
    if share > LOOP_NGRAM_SHARE or ratio > LOOP_COMPRESSION_RATIO:
        reasons.append(f"repetition loop (5-gram share {share:.2f}, compression ratio {ratio:.2f})")
    if acc.empty_reference:
        rate = hallucinations_per_minute(acc.hallucinated_words or 0, audio_seconds)
        if rate > SILENCE_WORDS_PER_MINUTE:
            reasons.append(f"{rate:.0f} words/min on non-speech")
    return reasons


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    if not values:
        return None
    import numpy as np

    return float(np.percentile(values, q))


# Words deleted or inserted this close to a window boundary count as boundary errors.
BOUNDARY_SECONDS = 2.0


def boundary_errors(
    reference: str, segments: Sequence[Segment], boundaries: Sequence[float], within: float = BOUNDARY_SECONDS
) -> int:
    """Deleted and inserted words within `within` seconds of a window boundary.

    The hypothesis is normalized segment by segment, each segment's words spread evenly
    over its span, and aligned to the normalized reference (jiwer). An inserted word has
    its own time; the words of a deletion are spread over the gap between the hypothesis
    words around it. A long-form row whose errors sit at the boundaries points at the
    chunking, not at the model."""
    if not boundaries:
        return 0
    ref = normalize(reference).split()
    hyp: list[str] = []
    times: list[float] = []
    for seg in segments:
        words = normalize(seg.text).split()
        step = (seg.end - seg.start) / max(1, len(words))
        hyp.extend(words)
        times.extend(seg.start + step * (k + 0.5) for k in range(len(words)))
    edges = np.asarray(sorted(boundaries), dtype=float)

    def near(t: float) -> bool:
        return bool(np.min(np.abs(edges - t)) <= within)

    if not ref:
        return sum(near(t) for t in times)
    if not hyp:
        return 0  # nothing was transcribed: no times to place the deletions at
    import jiwer

    count = 0
    for op in jiwer.process_words(" ".join(ref), " ".join(hyp)).alignments[0]:
        if op.type == "insert":
            count += sum(near(times[k]) for k in range(op.hyp_start_idx, op.hyp_end_idx))
        elif op.type == "delete":
            lo = times[op.hyp_start_idx - 1] if op.hyp_start_idx > 0 else 0.0
            hi = times[op.hyp_start_idx] if op.hyp_start_idx < len(times) else times[-1]
            n = op.ref_end_idx - op.ref_start_idx
            count += sum(near(lo + (hi - lo) * (k + 0.5) / n) for k in range(n))
    return count
