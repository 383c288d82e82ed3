"""Decode option vad: 'silero' decodes only the speech Silero VAD finds, on every backend,
timestamps mapped back to the original audio; 'runtime' is the runtime's own VAD or a clear
refusal; the detection counts inside decode time and is reported alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from whisperbench import backends
from whisperbench.audio import SAMPLE_RATE
from whisperbench.backends.vad_decode import TimeMap
from whisperbench.bench.perturb import insert_silence
from whisperbench.errors import UnsupportedOptionError, WhisperbenchError
from whisperbench.options import DecodeOptions
from whisperbench.text import normalize

SILERO = DecodeOptions(language="en", vad="silero")


@st.composite
def regions(draw):
    edges = sorted(draw(st.sets(st.integers(0, 60 * SAMPLE_RATE), min_size=2, max_size=12)))
    edges = edges[: len(edges) // 2 * 2]
    return list(zip(edges[0::2], edges[1::2]))


@settings(max_examples=100, deadline=None)
@given(regions=regions(), data=st.data())
def test_time_map_puts_each_joined_time_back_in_its_region(regions, data):
    tmap = TimeMap(regions)
    k = data.draw(st.integers(0, len(regions) - 1))
    a, b = regions[k]
    offset = data.draw(st.integers(0, b - a - 1))
    joined = sum(y - x for x, y in regions[:k]) + offset
    assert tmap(joined / SAMPLE_RATE) == pytest.approx((a + offset) / SAMPLE_RATE, abs=1e-9)
    if offset == 0 and k > 0:  # a segment ending at the join ends in the region before
        assert tmap(joined / SAMPLE_RATE, end=True) == pytest.approx(regions[k - 1][1] / SAMPLE_RATE)


def test_options_validate_vad():
    assert DecodeOptions(vad="silero", vad_threshold=0.3).vad_threshold == 0.3
    for bad in ({"vad": "webrtc"}, {"vad_threshold": 1.5}, {"vad_min_silence_ms": -1}, {"vad_speech_pad_ms": 0.5}):
        with pytest.raises(WhisperbenchError, match=f"invalid decoding option {next(iter(bad))}"):
            DecodeOptions(**bad)
    # Irrelevant without VAD: left out of the hash (results stored before the option keep theirs).
    assert DecodeOptions(vad_threshold=0.3).hash() == DecodeOptions().hash()
    assert DecodeOptions(vad="silero", vad_threshold=0.3).hash() != SILERO.hash()


@pytest.fixture(scope="module")
def dummy(load_backend):
    return load_backend("dummy", model="none", extra={"text": "thank you for watching"})


def test_silero_on_digital_silence_yields_no_words_and_skips_the_backend(dummy):
    calls = dummy.calls
    res = dummy.transcribe(np.zeros(10 * SAMPLE_RATE, dtype=np.float32), SILERO)
    assert res.text == "" and res.segments == () and dummy.calls == calls
    assert res.extra["vad_regions"] == 0 and 0 < res.extra["vad_seconds"] <= res.timing.decode_seconds
    assert res.options.vad == "silero"


def test_silero_decodes_speech_and_runtime_vad_is_refused_without_one(dummy, jfk):
    res = dummy.transcribe(jfk, SILERO)
    assert res.text == "thank you for watching" and res.extra["vad_regions"] >= 1
    assert 0 < res.extra["vad_speech_seconds"] <= len(jfk) / SAMPLE_RATE
    with pytest.raises(UnsupportedOptionError, match="vad='runtime'.*no voice-activity detection"):
        dummy.transcribe(jfk, DecodeOptions(language="en", vad="runtime"))
    with pytest.raises(UnsupportedOptionError, match="batch of inputs with vad='silero'"):
        dummy.transcribe_batch([jfk, jfk], SILERO)


def test_the_joined_speech_is_one_input_decoded_with_the_initial_prompt(jfk):
    """vad='silero' hands the backend one input (the speech joined), with every other option
    as given: the prompt is that input's context, as it would be without VAD."""
    from whisperbench.backends.base import RawResult
    from whisperbench.backends.vad_decode import transcribe_speech

    given = []
    options = SILERO.replace(initial_prompt="Glossary: fellow-Americans.")
    transcribe_speech(jfk, options, lambda samples, opts: given.append(opts) or RawResult(segments=[]))
    assert given == [options.replace(vad="none")]


@pytest.fixture(scope="module")
def ct2(load_backend):
    return load_backend("ctranslate2", compute_type="int8")


@pytest.mark.parametrize("vad", ["silero", "runtime"])
def test_ctranslate2_tiny_en_on_digital_silence_yields_no_words(ct2, vad):
    res = ct2.transcribe(np.zeros(30 * SAMPLE_RATE, dtype=np.float32), DecodeOptions(language="en", vad=vad))
    assert normalize(res.text) == ""


@pytest.mark.slow
def test_ctranslate2_timestamps_with_vad_map_back_to_the_original_audio(ct2, jfk):
    """jfk with 30 s of silence inserted in a pause: with VAD every word time lands within
    0.1 s of the same time without VAD on the original jfk, moved 30 s when it lies after
    the insertion point."""
    opts = DecodeOptions(language="en", algorithm="sequential", word_timestamps=True)
    clip, at = insert_silence(jfk, 30.0)
    plain = [w for s in ct2.transcribe(jfk, opts).segments for w in s.words]
    mapped = [w for s in ct2.transcribe(clip, opts.replace(vad="silero")).segments for w in s.words]
    assert [w.word for w in mapped] == [w.word for w in plain]
    def in_clip(t: float) -> float:  # a time of the original jfk in the clip with the silence
        return t + 30.0 if t >= at / SAMPLE_RATE else t

    assert any(in_clip(p.start) != p.start for p in plain) and in_clip(plain[0].end) == plain[0].end
    for w, p, after in zip(mapped, plain, plain[1:] + [None]):
        assert w.start == pytest.approx(in_clip(p.start), abs=0.1), (w, p)
        # A word's end before a pause is where Whisper's alignment puts it in the pause (0.5 s
        # apart between decodes of the same speech, VAD or not): ends are checked inside phrases.
        if after is not None and after.start == p.end:
            assert w.end == pytest.approx(in_clip(p.end), abs=0.1), (w, p)


def test_cli_decode_flags_carry_vad():
    import argparse

    from whisperbench.cli.common import add_decode_args, decode_options

    parser = argparse.ArgumentParser()
    add_decode_args(parser)
    opts = decode_options(parser.parse_args(["--vad", "silero", "--vad-threshold", "0.4", "--vad-speech-pad-ms", "0"]))
    assert (opts.vad, opts.vad_threshold, opts.vad_speech_pad_ms, opts.vad_min_silence_ms) == ("silero", 0.4, 0, 2000)
    assert decode_options(parser.parse_args([])).vad == "none"


@pytest.mark.parametrize("name", backends.names())
def test_silero_is_accepted_by_every_backend(name):
    backends.adapter_class(name).check_options(SILERO.replace(algorithm="sequential"))
