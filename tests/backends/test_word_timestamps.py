"""Word timestamps on every backend, against forced alignment (issue 21): tiny.en on the 11
LJSpeech sentences of the shared `wordtimes` set, whose reference word times come from the
Montreal Forced Aligner. The target, whisperkittools' CI gate: at least 80 % of word
boundaries within 250 ms of the reference. Each result names how its words were timed."""

from __future__ import annotations

import pytest

from whisperbench import backends
from whisperbench.backends.word_timing import METHODS
from whisperbench.bench import datasets as ds
from whisperbench.bench.datasets import build_longform, LongformSpec
from whisperbench.bench.word_metrics import TARGET_SHARE, pooled, word_timing
from whisperbench.options import DecodeOptions

TIMED = [n for n in backends.names() if n not in ("dummy", "openai-api") and backends.adapter_class(n).capabilities.word_timestamps]


@pytest.fixture(scope="module")
def wordtimes(speech):
    dataset = ds.load(ds.DatasetSpec("wordtimes", "manifest", str(speech / "wordtimes" / "manifest.jsonl")))
    return [(u, u.load()) for u in dataset]


@pytest.fixture(scope="module")
def joined_wordtimes(wordtimes):
    """The 11 sentences joined into one 45 s recording: (utterance, samples)."""
    (utt,) = build_longform([u for u, _ in wordtimes], LongformSpec(target_seconds=1000))
    return utt, utt.load()


def words_of(result):
    return [w for s in result.segments for w in (s.words or ())]


def score(backend, items, options):
    rows = []
    for utt, samples in items:
        res = backend.transcribe(samples, options)
        assert res.extra["word_timing"] in METHODS and res.extra["word_timing"] == backend.capabilities.word_timing
        words = words_of(res)
        assert words and all(0 <= w.start <= w.end <= res.timing.audio_seconds + 1e-6 for w in words)
        rows.append(word_timing(utt.words, words).to_row())
    return pooled(rows)


@pytest.mark.slow
@pytest.mark.parametrize("name", TIMED)
def test_word_boundaries_within_250ms(name, load_backend, wordtimes):
    backend = load_backend(name)
    t = score(backend, wordtimes, DecodeOptions(algorithm="sequential", language="en", word_timestamps=True))
    assert t.matched_share >= 0.9, f"{name}: only {t.matched_share:.0%} of the reference words transcribed"
    assert t.within_250ms >= TARGET_SHARE, (
        f"{name}: {t.within_250ms:.1%} of boundaries within 250 ms (mean abs start error "
        f"{t.start_error_mean_s:.3f} s, end {t.end_error_mean_s:.3f} s)")


@pytest.mark.slow
def test_chunked_layer_carries_word_times_across_windows(load_backend, joined_wordtimes):
    """The 11 sentences joined into one 45 s recording, decoded in overlapping 15 s windows by
    the shared chunking layer: each window's words come back offset by the window's start and
    the words the overlaps share are kept once, so the joined reference still matches."""
    utt, samples = joined_wordtimes
    backend = load_backend("ctranslate2", extra={"chunking": "whisperbench"})
    res = backend.transcribe(samples, DecodeOptions(algorithm="chunked", language="en", chunk_length_s=15.0,
                                                    word_timestamps=True))
    assert res.extra["chunks"] >= 4 and res.implementation.startswith("whisperbench.chunking")
    words = words_of(res)
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    t = word_timing(utt.words, words)
    assert t.matched_share >= 0.9 and t.within_250ms >= TARGET_SHARE, t


@pytest.mark.slow
def test_transformersjs_sequential_window_seeks_to_the_last_word(load_backend, joined_wordtimes):
    """Transformers.js's word mode predicts no timestamp tokens, so whisperbench's sliding
    window continues from the start of each window's last word (it may be cut) and decodes it
    again: over the 45 s recording (two windows) the words stay in order and on time."""
    utt, samples = joined_wordtimes
    res = load_backend("transformersjs").transcribe(
        samples, DecodeOptions(algorithm="sequential", language="en", word_timestamps=True))
    assert res.extra["worker_calls"] >= 2 and res.extra["word_timing"] == "dtw-cross-attention"
    words = words_of(res)
    starts = [w.start for w in words]
    assert starts == sorted(starts) and words[-1].end > 40.0
    t = word_timing(utt.words, words)
    assert t.matched_share >= 0.9 and t.within_250ms >= TARGET_SHARE, t
