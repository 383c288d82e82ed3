"""The shared chunking layer, without a model: planning, merging, token parsing."""

from __future__ import annotations

import numpy as np
import pytest

from whisperbench.audio import SAMPLE_RATE
from whisperbench.backends import chunking
from whisperbench.options import DecodeOptions
from whisperbench.results import Segment

SR = SAMPLE_RATE


def test_plan_covers_audio_with_overlap_and_owned_spans_tile():
    n = int(53.2 * SR)
    chunks = chunking.plan(n, 30.0, 5.0)
    assert [(c.start, c.end) for c in chunks] == [(0, 30 * SR), (25 * SR, n)]
    assert chunks[0].keep_from == 0.0 and chunks[-1].keep_until == float("inf")
    # owned spans tile the time line: each ends where the next begins, mid-overlap
    assert chunks[0].keep_until == chunks[1].keep_from == 27.5


def test_plan_short_input_is_one_chunk_and_no_overlap_is_contiguous():
    assert len(chunking.plan(5 * SR, 30.0, 5.0)) == 1
    chunks = chunking.plan(65 * SR, 30.0, 0.0)
    assert [(c.start, c.end) for c in chunks] == [(0, 30 * SR), (30 * SR, 60 * SR), (60 * SR, 65 * SR)]
    with pytest.raises(ValueError):
        chunking.plan(10 * SR, 5.0, 5.0)


def test_merge_keeps_owned_segments_and_drops_duplicates():
    chunks = chunking.plan(int(50 * SR), 30.0, 5.0)  # [0,30] and [25,50]; boundary 27.5
    first = [Segment(0.0, 10.0, " a"), Segment(10.0, 26.0, " b"), Segment(26.0, 30.0, " c")]
    # the second chunk sees "c" again (25.5..30 absolute = 0.5..5 relative) and then "d"
    second = [Segment(0.5, 5.0, " c"), Segment(5.0, 20.0, " d"), Segment(20.0, 25.0, " e")]
    merged = chunking.merge(chunks, [first, second], 50.0)
    assert [s.text for s in merged] == [" a", " b", " c", " d", " e"]  # "c" once, from the chunk owning it
    assert merged[2].start == 25.5 and merged[-1].end == 50.0
    starts = [s.start for s in merged]
    assert starts == sorted(starts)
    assert all(0 <= s.start <= s.end <= 50.0 for s in merged)

    # a long segment of the first chunk already covers what the second re-transcribes
    first = [Segment(0.0, 18.0, " a"), Segment(18.0, 30.0, " b c")]
    second = [Segment(3.0, 6.0, " c"), Segment(6.0, 20.0, " d")]
    merged = chunking.merge(chunks, [first, second], 50.0)
    assert [s.text for s in merged] == [" a", " b c", " d"]


def test_merge_clamps_times_to_chunk_and_audio():
    chunks = chunking.plan(int(4 * SR), 30.0, 5.0)
    merged = chunking.merge(chunks, [[Segment(0.0, 29.0, " x")]], 4.0)
    assert merged[0].end == 4.0


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
    assert extra == {"chunks": 3, "chunk_length_s": 30.0, "chunk_overlap_s": 5.0}
    assert segments[-1].end == 70.0

    calls.clear()
    segments, _, extra = chunking.transcribe_chunked(samples, opts.replace(timestamps=False), decode)
    assert extra["chunk_overlap_s"] == 0.0 and extra["chunks"] == 3
    assert [s.text for s in segments] == [" w"] * 3  # no overlap -> nothing dropped


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
