"""openai-whisper backend specifics: short-form via decode, fallback rule, word
timestamps, clear errors."""

from __future__ import annotations

import pytest

from tests.conftest import JFK_WORDS
from whisperbench.backends import chunking
from whisperbench.errors import UnsupportedOptionError
from whisperbench.options import DecodeOptions, LoadOptions
from whisperbench.text import normalize

pytest.importorskip("whisper")

def test_short_decode_and_sequential_transcribe_agree_on_one_window(load_backend, jfk):
    b = load_backend("openai")
    short = b.transcribe(jfk, DecodeOptions(language="en"))
    seq = b.transcribe(jfk, DecodeOptions(algorithm="sequential", language="en"))
    assert short.implementation.startswith("whisper.Whisper.decode")
    assert seq.implementation == "whisper.transcribe"
    assert normalize(short.text) == normalize(seq.text) == JFK_WORDS
    assert short.segments[0].avg_logprob is not None and short.segments[0].temperature == 0.0


def test_fallback_thresholds_beams_and_no_timestamps(load_backend, jfk):
    b = load_backend("openai")
    # a logprob threshold no decode can meet forces every fallback step; the last one is kept
    res = b.transcribe(jfk, DecodeOptions(language="en", temperatures=(0.0, 0.5, 1.0), logprob_threshold=0.0,
                                          no_speech_threshold=None))
    assert {s.temperature for s in res.segments} == {1.0}
    res = b.transcribe(jfk, DecodeOptions(algorithm="sequential", language="en", temperatures=(0.0, 0.5, 1.0),
                                          logprob_threshold=0.0, no_speech_threshold=None))
    assert {s.temperature for s in res.segments} == {1.0}
    res = b.transcribe(jfk, DecodeOptions(language="en", beam_size=3))
    assert normalize(res.text) == JFK_WORDS
    res = b.transcribe(jfk, DecodeOptions(language="en", timestamps=False))
    assert len(res.segments) == 1 and normalize(res.text) == JFK_WORDS


@pytest.mark.parametrize("algorithm", ["sequential", "short"])
def test_word_timestamps(load_backend, jfk, algorithm):
    """whisper.transcribe aligns words itself; short (and chunked) align each decoded window
    with the same whisper.timing.add_word_timestamps."""
    b = load_backend("openai")
    res = b.transcribe(jfk, DecodeOptions(algorithm=algorithm, language="en", word_timestamps=True))
    words = [w for s in res.segments for w in s.words]
    assert normalize(" ".join(w.word for w in words)) == JFK_WORDS
    assert all(0 <= w.start <= w.end <= 11.1 for w in words)
    assert res.extra["word_timing"] == "dtw-cross-attention"


def test_chunked_batches_windows(load_backend, sonnet):
    b = load_backend("openai")
    samples = sonnet
    res = b.transcribe(samples, DecodeOptions(algorithm="chunked", language="en", batch_size=2, chunk_length_s=20))
    assert res.implementation.startswith("whisperbench.chunking, overlap word alignment (")
    assert res.extra["chunks"] == len(chunking.plan(len(samples), 20, 20 * chunking.OVERLAP_FRACTION)) == 4
    assert res.extra["chunk_overlap_s"] > 0 and len(res.extra["window_boundaries"]) == 3
    assert "from fairest creatures" in normalize(res.text)


def test_clear_errors():
    from whisperbench.backends.openai.adapter import OpenAIWhisperBackend as O
    from whisperbench.errors import ModelError

    with pytest.raises(UnsupportedOptionError, match="float16"):
        O.resolve_load_options(LoadOptions(compute_type="float16"))  # fp16 is CUDA only
    with pytest.raises(ModelError, match="openai-whisper model name"):
        O("no-such-model-name")
