"""The openai-api backend: against a real `whisperbench serve` (ctranslate2 tiny.en, the
same model the in-process backend loads; the contract tests in test_contract.py run it too),
against the dummy served, and its honesty towards endpoints that are not ours."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import JFK_WORDS
from whisperbench import backends
from whisperbench.audio import read_audio
from whisperbench.backends.openai_api.adapter import OpenAIApiBackend, endpoint_url
from whisperbench.backends.openai_api.protocol import wav_bytes
from whisperbench.errors import ModelError, UnsupportedOptionError
from whisperbench.options import DecodeOptions, LoadOptions
from whisperbench.serve.app import options_from_fields
from whisperbench.text import normalize


@pytest.mark.slow
def test_served_tiny_en_transcribes_jfk_as_in_process(load_backend, jfk):
    served, local = load_backend("openai-api"), load_backend("ctranslate2")
    options = DecodeOptions(language="en")
    a, b = served.transcribe(jfk, options), local.transcribe(jfk, options)
    assert normalize(a.text) == JFK_WORDS and a.text == b.text
    assert [(s.start, s.end, s.tokens) for s in a.segments] == [(s.start, s.end, s.tokens) for s in b.segments]
    assert 0 < a.extra["server_decode_seconds"] < a.timing.decode_seconds  # the client's latency holds the server's
    d = served.describe()
    assert d["endpoint"] == served.url and "backend=ctranslate2" in d["server"]
    assert d["models"]["data"][0]["whisperbench"]["backend"] == "ctranslate2"
    assert a.implementation == f"{local.capabilities.algorithms['short']} via whisperbench serve"


@pytest.mark.slow
def test_decoding_options_reach_the_server(load_backend, jfk):
    served, local = load_backend("openai-api"), load_backend("ctranslate2")
    # (few tokens each: the options must reach the server, the decoding need not be long)
    for options in (DecodeOptions(language="en", max_new_tokens=3), DecodeOptions(language="en", beam_size=2,
                                                                                    max_new_tokens=6),
                    DecodeOptions(language="en", algorithm="chunked", chunk_length_s=8.0, max_new_tokens=4),
                    DecodeOptions(language="en", initial_prompt="Glossary: fellow-Americans.")):
        a, b = served.transcribe(jfk, options), local.transcribe(jfk, options)
        assert a.text == b.text and a.tokens == b.tokens, options
        if options.algorithm == "short" and options.max_new_tokens:
            assert len(a.tokens) <= options.max_new_tokens
    assert "fellow-Americans" in a.text  # the prompt (sent as OpenAI's prompt field) reached the decoder


def test_the_api_key_comes_from_the_named_variable_and_is_never_recorded(serve_endpoint, monkeypatch):
    server = serve_endpoint("dummy", "none")
    monkeypatch.setenv("WB_TEST_KEY", "sekrit-123")
    with backends.get("openai-api")(server.url, LoadOptions(extra={"api_key_env": "WB_TEST_KEY"})) as client:
        assert client._client.headers["authorization"] == "Bearer sekrit-123"
        result = client.transcribe(np.zeros(16000, dtype=np.float32), DecodeOptions())
        assert result.text == "hello world" and result.extra["server_decode_seconds"] >= 0
        recorded = json.dumps([client.describe(), result.to_dict()], default=str)
        assert "sekrit" not in recorded and "WB_TEST_KEY" in recorded  # the variable's name only


def test_an_unreachable_endpoint_is_a_model_error():
    from whisperbench.serve.process import free_port

    with pytest.raises(ModelError, match="cannot reach"):
        backends.get("openai-api")(f"http://127.0.0.1:{free_port()}", LoadOptions(extra={"retries": 0}))
    with pytest.raises(ModelError, match="endpoint's URL"):
        backends.get("openai-api")("fixture:tiny.en")


@pytest.mark.parametrize("given,url", [("http://h:8000", "http://h:8000/v1"), ("http://h:8000/v1/", "http://h:8000/v1"),
                                       ("https://api.openai.com/v1", "https://api.openai.com/v1")])
def test_endpoint_url(given, url):
    assert endpoint_url(given) == url


def _plain_endpoint() -> OpenAIApiBackend:
    """A client of an endpoint that is not a whisperbench server (no identity header), unloaded."""
    client = object.__new__(OpenAIApiBackend)
    client.url, client.server, client.model_name, client.multilingual = "http://h/v1", None, "whisper-1", True
    return client


@pytest.mark.parametrize("options,name", [
    (dict(beam_size=2), "beam_size"), (dict(temperatures=(0.0, 0.2)), "temperatures"),
    (dict(algorithm="chunked"), "chunked"), (dict(timestamps=False), "timestamps"), (dict(task="translate"), "task"),
    (dict(max_new_tokens=5), "max_new_tokens"), (dict(no_speech_threshold=None), "no_speech_threshold"),
])
def test_a_plain_endpoint_refuses_what_the_api_cannot_express(options, name):
    with pytest.raises(UnsupportedOptionError, match=name) as err:
        _plain_endpoint()._check_model_options(DecodeOptions(**options))
    assert "not a whisperbench server" in str(err.value) and "\n" not in str(err.value)


def test_a_plain_endpoint_gets_openais_fields():
    client = _plain_endpoint()
    options = DecodeOptions(language="fr", temperatures=(0.4,), word_timestamps=True, algorithm="sequential",
                            vad="silero", initial_prompt="Glossaire : Kennedy.")  # (whisperbench's VAD runs on the client)
    client._check_model_options(options)
    assert client._fields(options) == {"model": "whisper-1", "response_format": "verbose_json", "language": "fr",
                                       "prompt": "Glossaire : Kennedy.", "temperature": "0.4",
                                       "timestamp_granularities[]": ["segment", "word"]}


@st.composite
def valid_options(draw) -> DecodeOptions:
    algorithm = draw(st.sampled_from(["short", "sequential", "chunked"]))
    timestamps = draw(st.booleans())
    return DecodeOptions(
        algorithm=algorithm, language=draw(st.sampled_from([None, "en", "de"])),
        task=draw(st.sampled_from(["transcribe", "translate"])), beam_size=draw(st.integers(1, 6)),
        best_of=draw(st.integers(1, 6)),
        temperatures=draw(st.sampled_from([(0.0,), (0.0, 0.2, 0.4), (0.3,), (0.0, 0.25, 1.0)])),
        condition_on_previous_text=algorithm == "sequential" and draw(st.booleans()),
        compression_ratio_threshold=draw(st.sampled_from([None, 2.4, 1.75])),
        logprob_threshold=draw(st.sampled_from([None, -1.0, -0.123456789])),
        no_speech_threshold=draw(st.sampled_from([None, 0.6, 0.9])), timestamps=timestamps,
        word_timestamps=timestamps and draw(st.booleans()),
        max_new_tokens=draw(st.sampled_from([None, 1, 224])),
        chunk_length_s=draw(st.sampled_from([30.0, 8.5, 0.1 + 0.2])),
        batch_size=draw(st.integers(1, 4)) if algorithm == "chunked" else 1,
        initial_prompt=draw(st.none() | st.text(min_size=1, max_size=40).filter(
            lambda t: t.strip() and "<|" not in t)),
    )


@settings(max_examples=200, deadline=None, database=None)
@given(options=valid_options())
def test_our_server_receives_every_option_intact(options):
    """What the client sends a whisperbench server parses back, by the server's own reading of
    the fields (the CLI's parser), to the very options (floats and prompts included)."""
    client = _plain_endpoint()
    client.server = "whisperbench/0.1.0"
    fields = client._fields(options)
    granularities = fields.pop("timestamp_granularities[]")
    assert fields.pop("model") == "whisper-1" and fields.pop("response_format") == "verbose_json"
    assert ("word" in granularities) == options.word_timestamps
    assert fields.get("prompt") == options.initial_prompt and "initial_prompt" not in fields  # OpenAI's name
    assert all(isinstance(v, str) for v in fields.values())
    assert options_from_fields(fields, granularities) == options


@settings(max_examples=25, deadline=None, database=None)
@given(samples=st.lists(st.floats(-1.0, 1.0, width=32), min_size=1, max_size=3000).map(
    lambda xs: np.array(xs, dtype=np.float32)))
def test_the_uploaded_audio_decodes_to_the_very_samples(samples, tmp_path_factory):
    path = tmp_path_factory.mktemp("wav") / "a.wav"
    path.write_bytes(wav_bytes(samples))
    np.testing.assert_array_equal(read_audio(path).samples, samples)
