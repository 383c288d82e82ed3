"""Word-timestamp accuracy against reference word times (forced alignment), per utterance
and pooled over rows.

Timings are compared only on words both sides have: each word is normalized on its own
(Whisper's English normalizer, as WER), the two word sequences are aligned (difflib's
matching blocks over the normalized words, the alignment the chunking layer also uses),
and every matched pair gives two boundaries, its start and its end. Reported: the share
of reference words matched, the share of boundaries within 50 / 100 / 250 ms, and the
mean and median absolute start and end errors. Rows keep the per-word errors, so pooled
figures (`pooled`) are exact over any set of rows, medians included.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from whisperbench.results import Transcription, Word
from whisperbench.text import normalize

# Boundary tolerances reported (seconds); the last is the gate (whisperkittools' CI gate:
# at least 80 % of words within 250 ms).
TOLERANCES = (0.05, 0.1, 0.25)
GATE_TOLERANCE = 0.25
TARGET_SHARE = 0.8


@dataclass(frozen=True)
class WordTiming:
    reference_words: int  # reference words that survive normalization
    matched_words: int
    matched_share: float | None  # matched / reference words
    within_50ms: float | None  # share of the 2 x matched boundaries
    within_100ms: float | None
    within_250ms: float | None
    start_error_mean_s: float | None  # absolute errors
    start_error_median_s: float | None
    end_error_mean_s: float | None
    end_error_median_s: float | None
    start_errors_s: list[float]  # signed (hypothesis - reference), per matched word, ms resolution
    end_errors_s: list[float]

    def to_row(self) -> dict:
        """Row fields, each prefixed `word_` (records.Measurement)."""
        return {f"word_{k}": v for k, v in asdict(self).items()}


def _folded(words: Sequence[Word]) -> tuple[list[str], list[int]]:
    """Normalized tokens of each word, and the index of the word each token came from."""
    keys, owner = [], []
    for i, w in enumerate(words):
        for token in normalize(w.word).split():
            keys.append(token)
            owner.append(i)
    return keys, owner


def matched_pairs(reference: Sequence[Word], hypothesis: Sequence[Word]) -> list[tuple[int, int]]:
    """(reference index, hypothesis index) of each reference word matched, in order."""
    rk, ro = _folded(reference)
    hk, ho = _folded(hypothesis)
    pairs: dict[int, int] = {}
    for m in difflib.SequenceMatcher(None, rk, hk, autojunk=False).get_matching_blocks():
        for k in range(m.size):
            pairs.setdefault(ro[m.a + k], ho[m.b + k])
    return sorted(pairs.items())


def _summary(start_errors: list[float], end_errors: list[float], reference_words: int) -> WordTiming:
    n = len(start_errors)
    both = np.abs(np.asarray(start_errors + end_errors, dtype=float))
    s, e = np.abs(np.asarray(start_errors, dtype=float)), np.abs(np.asarray(end_errors, dtype=float))

    def share(tol: float) -> float | None:
        # A hair of slack: errors are rounded to the millisecond and references to 10 ms.
        return float((both <= tol + 1e-6).mean()) if n else None

    return WordTiming(
        reference_words=reference_words, matched_words=n,
        matched_share=n / reference_words if reference_words else None,
        within_50ms=share(0.05), within_100ms=share(0.1), within_250ms=share(0.25),
        start_error_mean_s=float(s.mean()) if n else None, start_error_median_s=float(np.median(s)) if n else None,
        end_error_mean_s=float(e.mean()) if n else None, end_error_median_s=float(np.median(e)) if n else None,
        start_errors_s=list(start_errors), end_errors_s=list(end_errors),
    )


def word_timing(reference: Sequence[Word], hypothesis: Sequence[Word]) -> WordTiming:
    """Word-timestamp accuracy of `hypothesis` against `reference` (both in seconds)."""
    pairs = matched_pairs(reference, hypothesis)
    starts = [round(hypothesis[h].start - reference[r].start, 3) for r, h in pairs]
    ends = [round(hypothesis[h].end - reference[r].end, 3) for r, h in pairs]
    return _summary(starts, ends, len(set(_folded(reference)[1])))


def pooled(rows: Iterable[dict]) -> WordTiming | None:
    """The figures over several rows' `word_*` fields (None when no row has them)."""
    starts: list[float] = []
    ends: list[float] = []
    ref = 0
    seen = False
    for r in rows:
        if r.get("word_start_errors_s") is None:
            continue
        seen = True
        starts += list(r["word_start_errors_s"])
        ends += list(r["word_end_errors_s"])
        ref += int(r.get("word_reference_words") or 0)
    return _summary(starts, ends, ref) if seen else None


def word_timing_fields(reference: Sequence[Word] | None, result: Transcription) -> dict[str, Any]:
    """A measurement row's `word_*` fields: empty unless the utterance has reference word
    times and the result has word timestamps."""
    if reference is None or not result.options.word_timestamps:
        return {}
    hypothesis = [w for s in result.segments for w in (s.words or ())]
    return {"word_timing": result.extra.get("word_timing"), **word_timing(reference, hypothesis).to_row()}


# ----- cells and reports ------------------------------------------------------------------

CELL_FIELDS = ("word_matched_share", "word_within_50ms", "word_within_100ms", "word_within_250ms",
               "word_start_error_mean_s", "word_start_error_median_s", "word_end_error_mean_s", "word_end_error_median_s")


def cell_fields(ok) -> dict[str, Any]:
    """A cell's word-timing figures pooled over its measured rows (a DataFrame), for the
    store's cell summary: {} when no row has word times."""
    if "word_start_errors_s" not in ok:
        return {}
    rows = [r for r in ok.to_dict("records") if isinstance(r.get("word_start_errors_s"), list)]
    p = pooled(rows)
    if p is None:
        return {}
    methods = sorted({str(r["word_timing"]) for r in rows if r.get("word_timing")})
    d = p.to_row()
    return {"word_timing": ", ".join(methods) or None, **{k: d[k] for k in CELL_FIELDS}}


WORD_TIMING_NOTE = (
    "Word timestamps against the datasets' reference word times (forced alignment). Matched: the share of reference "
    "words the transcript has too (timings are compared on those only); within 50 / 100 / 250 ms: the share of their "
    "start and end boundaries that close to the reference; errors: absolute start / end errors, mean and median, "
    "in seconds. Method: how the runtime timed the words.")
WORD_TIMING_COLUMNS = (("configuration", "configuration"), ("dataset", "dataset"), ("algorithm", "algorithm"),
                       ("word_timing", "method"), ("word_matched_share", "matched"),
                       ("word_within_50ms", "≤ 50 ms"), ("word_within_100ms", "≤ 100 ms"),
                       ("word_within_250ms", "≤ 250 ms"), ("start", "start error mean / median (s)"),
                       ("end", "end error mean / median (s)"))


def word_timing_rows(cells) -> tuple[list[str], list[list[str]]]:
    """The report's word-timestamp table: a row per cell that measured word times."""
    headers = [h for _, h in WORD_TIMING_COLUMNS]
    if cells is None or cells.empty or "word_within_250ms" not in cells:
        return headers, []
    timed = cells[cells["word_within_250ms"].notna()]

    def pct(v) -> str:
        return "–" if v is None or v != v else f"{100 * v:.1f}%"

    def pair(r, side: str) -> str:
        m, md = r.get(f"word_{side}_error_mean_s"), r.get(f"word_{side}_error_median_s")
        return "–" if m is None or m != m else f"{m:.3f} / {md:.3f}"

    rows = []
    for _, r in timed.sort_values(["dataset", "configuration", "algorithm"], kind="stable").iterrows():
        rows.append([str(r["configuration"]), str(r["dataset"]), str(r["algorithm"]), str(r.get("word_timing") or "–"),
                     pct(r["word_matched_share"]), pct(r["word_within_50ms"]), pct(r["word_within_100ms"]),
                     pct(r["word_within_250ms"]), pair(r, "start"), pair(r, "end")])
    return headers, rows
