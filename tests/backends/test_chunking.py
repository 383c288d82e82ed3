"""The shared chunking layer, without a model: planning, stitching, token parsing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from whisperbench.audio import SAMPLE_RATE
from whisperbench.backends import chunking
from whisperbench.options import DecodeOptions
from whisperbench.results import Segment, Word

from tests.conftest import require

SR = SAMPLE_RATE


def test_plan_covers_audio_with_overlap():
    n = int(53.2 * SR)
    chunks = chunking.plan(n, 30.0, 10.0)
    assert [(c.start, c.end) for c in chunks] == [(0, 30 * SR), (20 * SR, 50 * SR), (40 * SR, n)]
    assert len(chunking.plan(5 * SR, 30.0, 10.0)) == 1
    chunks = chunking.plan(65 * SR, 30.0, 0.0)
    assert [(c.start, c.end) for c in chunks] == [(0, 30 * SR), (30 * SR, 60 * SR), (60 * SR, 65 * SR)]
    with pytest.raises(ValueError):
        chunking.plan(10 * SR, 5.0, 5.0)


def _texts(segments):
    return " ".join(s.text.strip() for s in segments).split()


def test_merge_keeps_words_both_windows_heard_once():
    chunks = chunking.plan(int(50 * SR), 30.0, 10.0)  # [0,30] and [20,50]
    first = [Segment(0.0, 10.0, " a b c"), Segment(10.0, 22.0, " d e f g"), Segment(22.0, 30.0, " h i j")]
    # the second window hears "f g h i j" again (absolute 20..30 = 0..10 relative), then "k l"
    second = [Segment(0.0, 10.0, " f g h i j"), Segment(10.0, 30.0, " k l")]
    merged, cuts = chunking.merge(chunks, [first, second], 50.0)
    assert _texts(merged) == list("abcdefghijkl")
    assert len(cuts) == 1 and 20.0 <= cuts[0] <= 30.0
    starts = [s.start for s in merged]
    assert starts == sorted(starts) and all(0 <= s.start <= s.end <= 50.0 for s in merged)


def test_merge_recovers_a_segment_the_earlier_window_left_unfinished():
    chunks = chunking.plan(int(50 * SR), 30.0, 10.0)
    first = [Segment(0.0, 18.0, " a b c d"), Segment(18.0, 24.0, " e f")]  # "g h i" (24-30 s) not transcribed
    second = [Segment(0.0, 4.0, " e f"), Segment(4.0, 12.0, " g h i"), Segment(12.0, 30.0, " j k")]
    merged, _ = chunking.merge(chunks, [first, second], 50.0)
    assert _texts(merged) == list("abcdefghijk")


def test_merge_cuts_by_time_when_the_overlap_has_no_common_words():
    chunks = chunking.plan(int(50 * SR), 30.0, 10.0)
    first = [Segment(0.0, 19.0, " a b c")]  # silence in the overlap (20-30 s)
    second = [Segment(11.0, 20.0, " d e")]
    merged, cuts = chunking.merge(chunks, [first, second], 50.0)
    assert _texts(merged) == list("abcde") and cuts == [19.0]
    # without timestamps (one segment per window), windows sharing no word are both kept whole
    merged, cuts = chunking.merge(chunks, [[Segment(0.0, 30.0, " a b c")], [Segment(0.0, 30.0, " d e")]], 50.0, False)
    assert _texts(merged) == list("abcde")


def test_merge_keeps_word_times_of_kept_words():
    chunks = chunking.plan(int(40 * SR), 30.0, 10.0)
    w = lambda t, s: Word(s, s + 0.4, t)  # noqa: E731
    first = [Segment(0.0, 30.0, " a b c", words=(w(" a", 1.0), w(" b", 24.0), w(" c", 29.7)))]
    second = [Segment(0.0, 20.0, " b c d", words=(w(" b", 4.0), w(" c", 9.7), w(" d", 15.0)))]
    merged, _ = chunking.merge(chunks, [first, second], 40.0)
    words = [x for s in merged for x in s.words]
    assert [x.word for x in words] == [" a", " b", " c", " d"]
    assert [x.start for x in words] == [1.0, 24.0, 29.7, 35.0]


# ----- property: nothing lost, nothing doubled ------------------------------------------

@st.composite
def _speech(draw):
    """A continuous talk: distinct words at a random rate, chunked with random settings;
    each window hears its words, except that the word cut by a window edge may be missing
    or misheard, and the window may leave its last seconds untranscribed (an unfinished
    segment). Returns the truth, the chunks and what each window "transcribed"."""
    duration = int(draw(st.floats(31.0, 200.0)) * SR) / SR
    rate = draw(st.floats(1.0, 4.0))  # words per second
    chunk_len = draw(st.sampled_from([10.0, 15.0, 20.0, 30.0]))
    overlap = chunk_len * chunking.OVERLAP_FRACTION
    timestamps = draw(st.booleans())
    in_pauses = draw(st.booleans())  # placement "vad": windows cut in the pauses between words
    seg_words = draw(st.integers(1, 12))
    n = int(duration * rate)
    times = np.sort(np.random.default_rng(draw(st.integers(0, 2**32 - 1))).uniform(0, duration - 0.5, n))
    truth = [(f"w{i}", float(t), float(t) + min(0.4, 0.9 / rate)) for i, t in enumerate(times)]
    if in_pauses:
        gaps = [(int(a[2] * SR), int(b[1] * SR)) for a, b in zip(truth, truth[1:]) if b[1] - a[2] >= 0.2]
        chunks = chunking.plan_in_pauses(int(duration * SR), chunk_len, overlap, gaps)
    else:
        chunks = chunking.plan(int(duration * SR), chunk_len, overlap)
    results = []
    for c in chunks:
        lo, hi = c.offset, c.end_seconds
        heard = [w for w in truth if w[1] >= lo and w[2] <= hi]
        edge = [w for w in truth if (w[1] < lo < w[2]) or (w[1] < hi < w[2])]
        # a word cut by the edge: dropped or misheard
        extra = [(f"x{w[0]}", max(w[1], lo), min(w[2], hi)) for w in edge if draw(st.booleans())]
        heard = sorted(heard + extra, key=lambda w: w[1])
        # (a window cut in a pause must be transcribed to its end: no neighbour hears its tail)
        if c.index < len(chunks) - 1 and chunks[c.index + 1].joined == "overlap" and draw(st.booleans()):
            unfinished = draw(st.floats(0.0, overlap / 2 - 0.5))
            heard = [w for w in heard if w[2] <= hi - unfinished]
        if timestamps:
            segs = [
                Segment(g[0][1] - lo, g[-1][2] - lo, "".join(f" {w[0]}" for w in g))
                for g in (heard[k:k + seg_words] for k in range(0, len(heard), seg_words))
            ]
        else:
            segs = [Segment(0.0, hi - lo, "".join(f" {w[0]}" for w in heard))] if heard else []
        results.append(segs)
    return [w[0] for w in truth], chunks, results, duration, timestamps


@settings(max_examples=300, deadline=None)
@given(_speech())
def test_merge_loses_and_doubles_no_word(case):
    truth, chunks, results, duration, timestamps = case
    merged, cuts = chunking.merge(chunks, results, duration, timestamps)
    words = [w for w in _texts(merged) if not w.startswith("x")]
    assert words == truth
    assert len(cuts) == len(chunks) - 1
    starts = [s.start for s in merged]
    assert starts == sorted(starts) and all(0 <= s.start <= s.end <= duration for s in merged)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(1.0, 400.0), st.sampled_from([10.0, 20.0, 30.0]),
    st.lists(st.tuples(st.floats(0.0, 400.0), st.floats(0.05, 3.0)), max_size=60),
)
def test_windows_cut_in_pauses_cover_the_audio(duration, chunk_len, raw_pauses):
    n = int(duration * SR)
    pauses = [(int(a * SR), int(min(a + w, duration) * SR)) for a, w in raw_pauses if a < duration]
    overlap = chunk_len * chunking.OVERLAP_FRACTION
    chunks = chunking.plan_in_pauses(n, chunk_len, overlap, pauses)
    assert chunks[0].start == 0 and chunks[-1].end == n
    middles = {(a + b) // 2 for a, b in pauses}
    for prev, c in zip(chunks, chunks[1:]):
        assert 0 < c.end - c.start <= int(round(chunk_len * SR))
        if c.joined == "pause":  # touching windows, cut in the middle of the longest pause in prev's second half
            assert c.start == prev.end and c.start in middles
            second_half = (prev.start + int(round(chunk_len * SR)) // 2, prev.start + int(round(chunk_len * SR)))
            widths = [b - a for a, b in pauses if second_half[0] <= (a + b) // 2 <= second_half[1]]
            assert max(b - a for a, b in pauses if (a + b) // 2 == c.start) == max(widths)
        else:  # a full window with no pause in its second half, overlapping the next
            assert prev.end - prev.start == int(round(chunk_len * SR))
            assert prev.end - c.start == int(round(overlap * SR))
            assert not [m for m in middles if prev.start + (prev.end - prev.start) // 2 <= m <= prev.end]


def test_transcribe_chunked_cuts_real_speech_in_pauses(sonnet):
    """Silero VAD on a sonnet read with its pauses: every cut lies in a pause, and the
    windows touch there (no overlap to stitch)."""
    require("silero_vad")
    samples = np.concatenate([sonnet, sonnet])
    seen = []

    def decode(windows, options):
        seen.extend(len(w) for w in windows)
        return [chunking.WindowResult([Segment(0.0, len(w) / SR, " w")]) for w in windows]

    opts = DecodeOptions(algorithm="chunked", chunk_length_s=20.0)
    segments, _, extra = chunking.transcribe_chunked(samples, opts, decode, placement="vad")
    assert extra["merge"] == chunking.VAD_MERGE_METHOD and extra["vad"].startswith("silero-vad")
    assert extra["cuts_in_pauses"] >= 1 and extra["vad_params"]["min_silence_ms"] == 200
    pauses = chunking.vad.silences(samples)
    in_pauses = [c for c in extra["window_boundaries"] if any(a <= c * SR <= b for a, b in pauses)]
    assert len(in_pauses) >= extra["cuts_in_pauses"]
    assert sum(seen) >= len(samples) and max(seen) <= 20 * SR


def test_transcribe_chunked_batches_detects_language_once_and_records_facts():
    samples = np.zeros(int(70 * SR), dtype=np.float32)
    calls = []

    def decode(windows, options):
        calls.append((len(windows), options.language))
        return [chunking.WindowResult([Segment(0.0, len(w) / SR, " w")], language="de") for w in windows]

    opts = DecodeOptions(algorithm="chunked", batch_size=2)
    segments, first, extra = chunking.transcribe_chunked(samples, opts, decode)
    assert calls == [(2, None), (1, "de")]  # batches of 2; language fixed after the first batch
    assert first.language == "de"
    assert extra["chunks"] == 3 and extra["chunk_overlap_s"] == 10.0 and extra["chunk_length_s"] == 30.0
    assert extra["merge"] == chunking.MERGE_METHOD and len(extra["window_boundaries"]) == 2
    assert segments[-1].end == 70.0


def test_every_window_is_decoded_with_the_initial_prompt():
    """Windows are independent, so each gets the prompt as its context (as the runtimes'
    own chunked pipelines give it to every chunk), in every batch."""
    samples = np.zeros(int(70 * SR), dtype=np.float32)
    prompts = []

    def decode(windows, options):
        prompts.extend([options.initial_prompt] * len(windows))
        return [chunking.WindowResult([Segment(0.0, len(w) / SR, " w")], language="en") for w in windows]

    opts = DecodeOptions(algorithm="chunked", batch_size=2, initial_prompt="Glossary: Kennedy.")
    _, _, extra = chunking.transcribe_chunked(samples, opts, decode)
    assert len(prompts) == extra["chunks"] >= 3 and set(prompts) == {"Glossary: Kennedy."}


def test_segments_from_tokens():
    tb, eot = 1000, 900
    dec = lambda toks: "".join(f" t{t}" for t in toks)  # noqa: E731
    toks = [tb + 0, 1, 2, tb + 100, tb + 100, 3, tb + 250, 4, 5]  # last segment unfinished
    segs = chunking.segments_from_tokens(toks, tb, eot, dec, 6.0, avg_logprob=-0.1)
    assert [(s.start, s.end, s.tokens) for s in segs] == [(0.0, 2.0, (1, 2)), (2.0, 5.0, (3,)), (5.0, 6.0, (4, 5))]
    assert segs[0].text == " t1 t2" and segs[0].avg_logprob == -0.1
    # no timestamps: one segment over the window; special tokens (>= eot) dropped
    segs = chunking.segments_from_tokens([1, 2, eot + 1, 3], tb, eot, dec, 7.5)
    assert [(s.start, s.end, s.tokens) for s in segs] == [(0.0, 7.5, (1, 2, 3))]
    assert chunking.segments_from_tokens([], tb, eot, dec, 3.0) == []
