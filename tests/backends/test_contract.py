"""The contract every registered backend keeps (ctranslate2, transformers, openai,
whispercpp, dummy): options accepted or rejected consistently with its capabilities,
results that echo their options and carry timing facts, segment times monotonic and
inside the audio, clear errors for bad input and unavailable features."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import runtimes_imported
from whisperbench import backends
from whisperbench.backends import chunking
from whisperbench.audio import SAMPLE_RATE
from whisperbench.errors import AudioError, UnsupportedOptionError, WhisperbenchError
from whisperbench.options import DecodeOptions, LoadOptions

NAMES = backends.names()
MODEL_BACKENDS = [n for n in NAMES if n != "dummy"]


def test_every_backend_of_this_issue_is_registered():
    assert {"ctranslate2", "transformers", "openai", "whispercpp", "dummy"} <= set(NAMES)
    assert backends.spec("whisper.cpp").name == "whispercpp"
    assert backends.spec("openai-whisper").name == "openai"
    assert backends.spec("transformers").requires == ("transformers", "torch")
    assert backends.spec("openai").requires == ("whisper", "torch")
    assert backends.spec("whispercpp").requires == ("pywhispercpp",)


def test_importing_package_and_adapters_imports_no_runtime():
    code = (
        "import whisperbench, whisperbench.backends as b\n"
        "for n in b.names():\n"
        "    c = b.adapter_class(n); c.capabilities.describe()\n"
        "from whisperbench.backends import chunking\n"
    )
    bad = runtimes_imported(code)
    assert bad == [], f"runtimes imported at package import: {bad}"


@pytest.mark.parametrize("name", NAMES)
def test_capabilities_are_complete(name):
    cls = backends.adapter_class(name)
    caps = cls.capabilities
    assert set(caps.algorithms) == {"short", "sequential", "chunked"}, "every backend runs every algorithm"
    assert "cpu" in caps.compute_types and all(caps.compute_types.values())
    d = caps.describe()
    assert d["model_format"] == caps.model_format
    for alg, impl in caps.algorithms.items():
        if impl.startswith("whisperbench.chunking"):
            merges = [chunking.implementation("", placement)[:-3] for placement in chunking.PLACEMENTS]
            assert any(impl.startswith(m) for m in merges) and alg == "chunked"
    assert isinstance(cls.runtime_version(), str)


# (options, the capability flag that decides whether they are accepted)
PROBES = [
    (dict(beam_size=2), "beam_search"),
    (dict(algorithm="sequential", temperatures=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), compression_ratio_threshold=None),
     "temperature_fallback"),
    (dict(algorithm="sequential", condition_on_previous_text=True), "condition_on_previous_text"),
    (dict(algorithm="sequential", word_timestamps=True), "word_timestamps"),
    (dict(timestamps=False), "timestamps_off"),
    (dict(task="translate"), "translate"),
    (dict(max_new_tokens=50), "max_new_tokens"),
    (dict(vad="runtime"), "runtime_vad"),
    (dict(initial_prompt="Glossary: Kennedy."), "initial_prompt"),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("probe,flag", PROBES, ids=[f for _, f in PROBES])
def test_options_accepted_iff_capability(name, probe, flag):
    cls = backends.adapter_class(name)
    options = DecodeOptions(**{"language": "en", **probe})
    if getattr(cls.capabilities, flag):
        cls.check_options(options)
    else:
        with pytest.raises(UnsupportedOptionError) as err:
            cls.check_options(options)
        key = next(iter(k for k in probe if k != "algorithm"))
        assert key in str(err.value), f"the error must name the option: {err.value}"


@pytest.mark.parametrize("name", NAMES)
def test_conditioning_outside_sequential_rejected_everywhere(name):
    cls = backends.adapter_class(name)
    with pytest.raises(UnsupportedOptionError, match="condition_on_previous_text"):
        cls.check_options(DecodeOptions(algorithm="chunked", condition_on_previous_text=True, language="en"))


@pytest.mark.parametrize("name", NAMES)
def test_load_options_validated_before_loading(name):
    cls = backends.adapter_class(name)
    with pytest.raises(UnsupportedOptionError, match="no_such_option"):
        cls.resolve_load_options(LoadOptions(extra={"no_such_option": 1}))
    with pytest.raises(UnsupportedOptionError, match="compute type"):
        cls.resolve_load_options(LoadOptions(compute_type="int3"))
    with pytest.raises(UnsupportedOptionError, match="device"):
        cls.resolve_load_options(LoadOptions(device="tpu"))
    resolved = cls.resolve_load_options(LoadOptions())
    assert resolved.compute_type == cls.capabilities.compute_types["cpu"][0]


@pytest.mark.parametrize("name", [n for n in MODEL_BACKENDS])
def test_unavailable_cuda_is_a_clear_error(name):
    cls = backends.get(name) if backends.is_installed(name) else pytest.skip(f"{name} not installed")
    if "cuda" not in cls.capabilities.compute_types:
        with pytest.raises(UnsupportedOptionError, match="does not run on device 'cuda'"):
            cls.resolve_load_options(LoadOptions(device="cuda"))
        return
    if cls._device_available("cuda"):
        pytest.skip("a CUDA device is present")
    with pytest.raises(UnsupportedOptionError, match="not available"):
        cls.resolve_load_options(LoadOptions(device="cuda"))


def _check_result(res, backend, options, samples):
    duration = len(samples) / SAMPLE_RATE
    assert res.options == options, "options are echoed"
    assert res.backend == backend.name
    assert res.implementation == backend.capabilities.algorithms[options.algorithm]
    t = res.timing
    assert t.decode_seconds > 0 and t.load_seconds == backend.load_seconds > 0
    assert t.audio_seconds == pytest.approx(duration)
    assert t.tokens_generated == sum(len(s.tokens) for s in res.segments)
    assert res.text.strip(), "some text"
    starts = [s.start for s in res.segments]
    assert starts == sorted(starts), f"segment starts not monotonic: {starts}"
    for s in res.segments:
        assert 0.0 <= s.start <= s.end <= duration + 1e-6, f"segment {s.start}-{s.end} outside 0-{duration}"


@pytest.mark.parametrize("algorithm", ["short", "sequential", "chunked"])
@pytest.mark.parametrize("name", NAMES)
def test_transcribe_contract(name, algorithm, load_backend, jfk):
    backend = load_backend(name)
    extra = {"chunk_length_s": 8.0} if algorithm == "chunked" else {}  # several chunks on 11 s
    options = DecodeOptions(algorithm=algorithm, language="en", **extra)
    res = backend.transcribe(jfk, options)
    _check_result(res, backend, options, jfk)
    d = backend.describe()
    assert d["backend"] == name and d["runtime_version"] == backend.runtime_version()
    assert d["compute_type"] == backend.load_options.compute_type


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_a_clear_error(name, load_backend):
    backend = load_backend(name)
    opts = DecodeOptions(language="en")
    with pytest.raises(AudioError, match="mono"):
        backend.transcribe(np.zeros((2, 16000), dtype=np.float32), opts)
    with pytest.raises(AudioError, match="zero samples"):
        backend.transcribe(np.zeros(0, dtype=np.float32), opts)
    with pytest.raises(AudioError, match="NaN"):
        backend.transcribe(np.full(16000, np.nan, dtype=np.float32), opts)
    with pytest.raises(AudioError, match="float"):
        backend.transcribe(np.zeros(16000, dtype=np.int16), opts)
    with pytest.raises(AudioError, match="not found"):
        backend.transcribe("/nonexistent/audio.wav", opts)
    with pytest.raises(WhisperbenchError, match="algorithm='short'"):
        backend.transcribe(np.zeros(31 * SAMPLE_RATE, dtype=np.float32), opts)


@pytest.mark.parametrize("name", MODEL_BACKENDS)
def test_english_only_model_rejects_other_languages_and_translate(name, load_backend, jfk):
    backend = load_backend(name)
    with pytest.raises(UnsupportedOptionError, match="language='fr'"):
        backend.transcribe(jfk, DecodeOptions(language="fr"))
    with pytest.raises(UnsupportedOptionError, match="translate"):
        backend.transcribe(jfk, DecodeOptions(language="en", task="translate"))


@pytest.mark.parametrize("name", NAMES)
def test_english_only_model_without_language_decodes_english(name, load_backend, jfk):
    """Issue 14 item 4: no language + an English-only model = English, in every backend
    (openai-whisper used to crash in language detection, transformers.js refused)."""
    backend = load_backend(name)
    res = backend.transcribe(jfk, DecodeOptions())
    assert res.language == "en"
    if backend.capabilities.model_format != "none":  # a backend without a model (the dummy) has no words to check
        assert not backend.multilingual and res.options.language == "en", "the language used is recorded"
        assert "country" in res.text.lower()


@pytest.mark.parametrize("name", NAMES)
def test_no_language_on_a_multilingual_model_needs_detection(name):
    """Without language detection, only a multilingual model with no language is refused
    (the decision needs the loaded model, so the class-level check accepts language=None)."""
    cls = backends.adapter_class(name)
    cls.check_options(DecodeOptions(language=None))
    backend = object.__new__(cls)  # the model-level rule, without loading a model
    backend.multilingual = True
    options = backend.resolve_options(DecodeOptions())
    assert options.language is None
    from whisperbench.backends.base import Backend

    if cls.capabilities.language_detection:
        Backend._check_model_options(backend, options)
    else:
        with pytest.raises(UnsupportedOptionError, match="language=None"):
            Backend._check_model_options(backend, options)
    backend.multilingual = False
    assert backend.resolve_options(DecodeOptions()).language == "en"


@pytest.mark.parametrize("name", MODEL_BACKENDS)
def test_missing_model_is_a_model_error(name):
    from whisperbench.errors import ModelError

    if not backends.is_installed(name):
        pytest.skip(f"{name} not installed: {', '.join(backends.missing_modules(name))}")
    with pytest.raises(ModelError, match="not found"):
        backends.get(name)("/nonexistent/model.bin")
