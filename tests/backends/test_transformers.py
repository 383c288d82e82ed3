"""Transformers backend specifics: speculative decoding, attention implementations,
dtypes and int8, option mapping, clear errors."""

from __future__ import annotations


import pytest

from tests.conftest import JFK_WORDS
from whisperbench.errors import UnsupportedOptionError
from whisperbench.options import DecodeOptions, LoadOptions
from whisperbench.text import normalize

pytest.importorskip("transformers")
pytest.importorskip("torch")

@pytest.fixture(scope="session")
def student(tmp_path_factory):
    """A distil-style student of tiny.en (fewer decoder layers), from the conversion module."""
    from whisperbench.conversion import convert

    out = tmp_path_factory.mktemp("student") / "tiny.en-2dec"
    path = convert("fixture:tiny.en", "transformers", out, decoder_layers=2)
    return str(path or out)


def test_speculative_decoding_gives_identical_greedy_text(load_backend, student, jfk):
    plain = load_backend("transformers")
    assisted = load_backend("transformers", extra={"assistant_model": student})
    assert assisted.assistant is not None
    assert assisted.assistant.config.decoder_layers < plain.model.config.decoder_layers
    assert type(assisted.assistant).__name__ == "WhisperForCausalLM"
    assert assisted.describe()["assistant_model"]["model_path"] == str(student) or assisted.describe()["assistant_model"]
    for samples, options in [
        (jfk, DecodeOptions(language="en")),
        (jfk, DecodeOptions(language="en", timestamps=False)),
        (jfk, DecodeOptions(algorithm="sequential", language="en")),
    ]:
        a, b = plain.transcribe(samples, options), assisted.transcribe(samples, options)
        assert a.text == b.text, (options, a.text, b.text)
        assert a.tokens == b.tokens
    assert normalize(a.text)  # non-empty


def test_speculative_decoding_rejects_beams(load_backend, student, jfk):
    assisted = load_backend("transformers", extra={"assistant_model": student})
    with pytest.raises(UnsupportedOptionError, match="beam_size=2"):
        assisted.transcribe(jfk, DecodeOptions(language="en", beam_size=2))


def test_eager_attention_matches_sdpa(load_backend, jfk):
    sdpa = load_backend("transformers")
    eager = load_backend("transformers", extra={"attn_implementation": "eager"})
    assert eager.model.config._attn_implementation == "eager"
    assert sdpa.model.config._attn_implementation == "sdpa"
    opts = DecodeOptions(language="en")
    assert eager.transcribe(jfk, opts).text == sdpa.transcribe(jfk, opts).text


def test_int8_on_cpu_is_dynamic_quantization(load_backend, jfk):
    import torch

    q = load_backend("transformers", compute_type="int8")
    kinds = {type(m).__module__ + "." + type(m).__name__ for m in q.model.modules()}
    assert any("quantized" in k and k.endswith("Linear") for k in kinds), kinds
    assert not any(type(m) is torch.nn.Linear for m in q.model.model.decoder.layers.modules())
    assert normalize(q.transcribe(jfk, DecodeOptions(language="en")).text) == JFK_WORDS


def test_bfloat16_on_cpu(load_backend, jfk):
    import torch

    b = load_backend("transformers", compute_type="bfloat16")
    assert b.model.dtype == torch.bfloat16
    text = normalize(b.transcribe(jfk, DecodeOptions(language="en")).text)
    assert "ask not what your country can do for you" in text


def test_beam_search_and_fallback_are_mapped(load_backend, jfk):
    b = load_backend("transformers")
    kwargs = b._generate_kwargs(DecodeOptions(language="en", beam_size=3, temperatures=(0.0, 0.5, 1.0),
                                              compression_ratio_threshold=2.0, logprob_threshold=-0.5,
                                              no_speech_threshold=0.5, max_new_tokens=100))
    assert kwargs["num_beams"] == 3 and kwargs["temperature"] == (0.0, 0.5, 1.0) and kwargs["do_sample"] is False
    assert (kwargs["compression_ratio_threshold"], kwargs["logprob_threshold"], kwargs["no_speech_threshold"]) == (
        2.0, -0.5, 0.5)
    assert kwargs["max_new_tokens"] == 100 and "language" not in kwargs  # English-only model
    res = b.transcribe(jfk, DecodeOptions(language="en", beam_size=2))
    assert normalize(res.text) == JFK_WORDS


def test_chunked_pipeline_batches(load_backend, sonnet):
    b = load_backend("transformers")
    res = b.transcribe(sonnet, DecodeOptions(algorithm="chunked", language="en", batch_size=2, chunk_length_s=20))
    assert res.implementation.startswith("transformers.AutomaticSpeechRecognitionPipeline")
    assert "tokens_counted" in res.extra and res.timing.tokens_generated > 50
    assert "from fairest creatures" in normalize(res.text)


def test_unavailable_features_are_clear_errors(load_backend, sonnet):
    from whisperbench.backends.transformers.adapter import TransformersBackend as T

    with pytest.raises(UnsupportedOptionError, match="flash_attention_2.*CUDA"):
        T("fixture:tiny.en", LoadOptions(extra={"attn_implementation": "flash_attention_2"}))
    with pytest.raises(UnsupportedOptionError, match="attn_implementation='fast'"):
        T("fixture:tiny.en", LoadOptions(extra={"attn_implementation": "fast"}))
    with pytest.raises(UnsupportedOptionError, match="nf4"):
        T.resolve_load_options(LoadOptions(compute_type="nf4"))
    with pytest.raises(UnsupportedOptionError, match="temperatures"):
        T.check_options(DecodeOptions(algorithm="chunked", temperatures=(0.0, 0.5)))
    with pytest.raises(UnsupportedOptionError, match="best_of=3"):
        T.check_options(DecodeOptions(algorithm="sequential", temperatures=(0.0, 0.5), best_of=3))
    b = load_backend("transformers")
    with pytest.raises(UnsupportedOptionError, match="timestamps=False"):
        b.transcribe(sonnet, DecodeOptions(algorithm="sequential", language="en", timestamps=False))


@pytest.mark.slow  # torch.compile (inductor) on CPU: about 30-60 s
def test_torch_compile(load_backend, jfk):
    b = load_backend("transformers", extra={"torch_compile": True})
    assert normalize(b.transcribe(jfk, DecodeOptions(language="en")).text) == JFK_WORDS
