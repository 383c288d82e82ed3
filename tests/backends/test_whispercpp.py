"""whisper.cpp backend specifics: ggml quantization types, threads, quiet logs, the
temperature schedule it can express, tokens per segment, clear errors."""

from __future__ import annotations

import pytest

from tests.conftest import JFK_WORDS
from whisperbench.errors import UnsupportedOptionError
from whisperbench.options import DecodeOptions, LoadOptions
from whisperbench.text import normalize

pytest.importorskip("pywhispercpp")

@pytest.mark.parametrize("ggml", ["q8_0", "q5_0"])
def test_quantized_ggml_types(load_backend, jfk, ggml):
    b = load_backend("whispercpp", compute_type=ggml)
    d = b.describe()
    assert d["ggml_type"] == ggml and d["compute_type"] == ggml
    assert d["converted_from"]  # produced from the CTranslate2 fixture
    text = normalize(b.transcribe(jfk, DecodeOptions(language="en")).text)
    assert "ask not what your country can do for you" in text


def test_threads_beams_tokens_and_no_timestamps(load_backend, jfk):
    b = load_backend("whispercpp", threads=1)
    assert b.describe()["threads"] == 1 and b.params(DecodeOptions(language="en"))["n_threads"] == 1
    res = b.transcribe(jfk, DecodeOptions(language="en", beam_size=3))
    assert normalize(res.text) == JFK_WORDS
    # tokens per segment come from whisper.cpp itself and decode back to the segment text
    import _pywhispercpp as pw

    for s in res.segments:
        assert s.tokens
        text = b"".join(pw.whisper_token_to_bytes(b.model._ctx, t) for t in s.tokens).decode()
        assert text.strip() == s.text.strip()
    res = b.transcribe(jfk, DecodeOptions(language="en", timestamps=False))
    assert normalize(res.text) == JFK_WORDS


def test_logs_are_quiet(load_backend, jfk, capfd):
    from whisperbench.backends.whispercpp.adapter import WhisperCppBackend

    load_backend("whispercpp")  # make sure the conversion is cached outside the capture
    capfd.readouterr()
    b = WhisperCppBackend("fixture:tiny.en")
    b.transcribe(jfk, DecodeOptions(language="en"))
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out[:500], err[:500])


def test_temperature_schedule_and_thresholds(load_backend, jfk):
    from whisperbench.backends.whispercpp.adapter import WhisperCppBackend as W

    ok = DecodeOptions(algorithm="sequential", language="en", temperatures=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
                       compression_ratio_threshold=None)
    W.check_options(ok)
    b = load_backend("whispercpp")
    p = b.params(ok)
    assert (p["temperature"], round(p["temperature_inc"], 6)) == (0.0, 0.2)
    assert p["logprob_thold"] == -1.0 and p["no_speech_thold"] == pytest.approx(0.6) and p["no_context"] is True
    assert normalize(b.transcribe(jfk, ok).text) == JFK_WORDS
    with pytest.raises(UnsupportedOptionError, match="temperatures"):
        W.check_options(DecodeOptions(temperatures=(0.0, 0.5, 0.7)))  # not evenly spaced
    with pytest.raises(UnsupportedOptionError, match="temperatures"):
        W.check_options(DecodeOptions(temperatures=(0.0, 0.2, 0.4)))  # stops before 1.0
    with pytest.raises(UnsupportedOptionError, match="compression_ratio_threshold"):
        W.check_options(ok.replace(compression_ratio_threshold=2.4))
    with pytest.raises(UnsupportedOptionError, match="max_new_tokens"):
        W.check_options(DecodeOptions(max_new_tokens=10))
    with pytest.raises(UnsupportedOptionError, match="batch_size"):
        W.check_options(DecodeOptions(algorithm="chunked", batch_size=2))
    with pytest.raises(UnsupportedOptionError, match="cuda"):
        W.resolve_load_options(LoadOptions(device="cuda"))


def test_decoder_pool_limit_is_refused_not_empty(load_backend, jfk):
    """Issue 14 item 5: whisper.cpp holds at most 8 decoders; beam_size/best_of 9 used to
    return empty text (whisper_full's -4 went unread) that bench stored as ok."""
    from whisperbench.backends.whispercpp.adapter import MAX_DECODERS
    from whisperbench.errors import WhisperbenchError

    b = load_backend("whispercpp")
    for name in ("beam_size", "best_of"):
        with pytest.raises(UnsupportedOptionError, match=f"{name}=9: whisper.cpp runs at most 8 decoders"):
            b.transcribe(jfk, DecodeOptions(language="en", **{name: MAX_DECODERS + 1}))
    top = b.transcribe(jfk, DecodeOptions(language="en", beam_size=MAX_DECODERS, best_of=MAX_DECODERS))
    assert normalize(top.text) == JFK_WORDS
    # Any failing whisper_full status is an error, never an empty result (bypassing the check).
    with pytest.raises(WhisperbenchError, match=r"whisper_full returned -4: too many decoders"):
        b._run(jfk, b.params(DecodeOptions(language="en", beam_size=MAX_DECODERS + 1)))


@pytest.mark.slow
def test_each_call_starts_from_a_clean_context(load_backend, jfk):
    """whisper.cpp keeps a call's decoded text in its state (prompt_past) and, unless told
    no_context, prompts the next call's first window with it: a glossary prompt given to one
    call wrote "fellow-Americans" into the next, unprompted, call. Repeats, suite cells and
    serve requests (one backend object across requests) must not condition on each other."""
    from whisperbench.backends.whispercpp.adapter import WhisperCppBackend

    load_backend("whispercpp")  # the ggml conversion, cached
    b = WhisperCppBackend("fixture:tiny.en")
    conditioned = DecodeOptions(language="en", algorithm="sequential", condition_on_previous_text=True)
    fresh = b.transcribe(jfk, conditioned)
    assert "fellow Americans" in fresh.text
    prompted = b.transcribe(jfk, conditioned.replace(initial_prompt="Glossary: fellow-Americans."))
    assert "fellow-Americans" in prompted.text
    after = b.transcribe(jfk, conditioned)
    assert after.text == fresh.text, after.text
    assert [s.tokens for s in after.segments] == [s.tokens for s in fresh.segments]


@pytest.mark.slow
def test_condition_on_previous_text_off_means_no_window_sees_earlier_text(load_backend, jfk):
    """whisper.cpp refills its text context after every window whatever no_context says, so
    condition_on_previous_text=False was accepted and ignored past the first window: only
    n_max_text_ctx=0 turns it off. That also drops an initial prompt, so prompt + no
    conditioning over more than one window is refused, as transformers refuses it."""
    import numpy as np

    b = load_backend("whispercpp")
    off = DecodeOptions(language="en", algorithm="sequential")
    assert b.params(off)["n_max_text_ctx"] == 0
    assert b.params(off.replace(condition_on_previous_text=True))["n_max_text_ctx"] > 0
    assert b.params(off.replace(initial_prompt="Glossary: fellow-Americans."))["n_max_text_ctx"] > 0
    long = np.concatenate([jfk, np.zeros(16000 * 10, dtype=np.float32), jfk, jfk])  # 43 s: two windows at least
    with pytest.raises(UnsupportedOptionError, match="condition_on_previous_text"):
        b.transcribe(long, off.replace(initial_prompt="Glossary: fellow-Americans."))
    prompted = b.transcribe(long, off.replace(initial_prompt="Glossary: fellow-Americans.",
                                              condition_on_previous_text=True))
    assert "fellow-Americans" in prompted.text
    assert normalize(b.transcribe(long, off).text).count("fellow americans") == 3
