"""The CTranslate2 backend (faster-whisper) on real speech: short-form WER per set,
long-form sequential and chunked, arrays and batches, what it refuses, model errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import corpus_wer, require
from whisperbench import DecodeOptions, backends
from whisperbench.errors import ModelError, UnsupportedOptionError, WhisperbenchError
from whisperbench.text import normalize

# Corpus WER ceilings for tiny.en (CTranslate2, float32, greedy). Measured on this data:
# jfk 0.0, LibriSpeech 0.120, LibriVox 0.042, sonnets sequential 0.12, chunked (VAD, no
# timestamps) 0.10. Ceilings leave room for other CPUs' float rounding, nothing more.
WER_CEILING = {"jfk": 0.01, "librispeech": 0.16, "librivox": 0.08}
SONNET_CEILING = {"sequential": 0.18, "chunked": 0.18}


@pytest.fixture(scope="module")
def ct2(load_backend):
    return load_backend("ctranslate2", compute_type="float32")


def assert_segments_sane(result, duration: float) -> None:
    assert result.segments, "no segments"
    previous_end = 0.0
    for seg in result.segments:
        assert 0.0 <= seg.start <= seg.end <= duration + 0.05, (seg.start, seg.end, duration)
        assert seg.start >= previous_end - 1e-6
        previous_end = seg.end


@pytest.mark.parametrize("name", sorted(WER_CEILING))
def test_ct2_short_form_wer(ct2, short_sets, name):
    items = short_sets[name]
    opts = DecodeOptions(language="en")
    results = [ct2.transcribe(path, opts) for path, _ in items]
    wer = corpus_wer([ref for _, ref in items], [r.text for r in results])
    assert wer <= WER_CEILING[name], f"{name}: WER {wer:.3f}"
    for (path, _), r in zip(items, results):
        assert_segments_sane(r, r.timing.audio_seconds)
        assert r.options == opts and r.backend == "ctranslate2"
        assert r.timing.decode_seconds > 0 and r.timing.load_seconds > 0 and r.timing.tokens_generated > 0
        assert r.language == "en"


@pytest.mark.parametrize("algorithm", ["sequential", "chunked"])
def test_ct2_long_form(ct2, sonnets, algorithm):
    opts = DecodeOptions(algorithm=algorithm, language="en", timestamps=algorithm == "sequential", batch_size=2 if algorithm == "chunked" else 1)
    path, ref = sonnets[0]
    r = ct2.transcribe(path, opts)
    assert r.timing.audio_seconds > 50
    assert_segments_sane(r, r.timing.audio_seconds)
    assert r.segments[-1].end > 40, "long-form output stops early"
    assert corpus_wer([ref], [r.text]) <= SONNET_CEILING[algorithm]
    assert "BatchedInferencePipeline" in r.implementation if algorithm == "chunked" else "WhisperModel" in r.implementation


def test_ct2_short_refuses_long_input(ct2, sonnets):
    with pytest.raises(WhisperbenchError, match="sequential"):
        ct2.transcribe(sonnets[0][0], DecodeOptions(algorithm="short"))


def test_ct2_transcribe_array_and_batch(ct2, speech, jfk):
    samples = jfk
    a = ct2.transcribe(samples, DecodeOptions(language="en"))
    batch = ct2.transcribe_batch([samples, speech / "jfk" / "jfk.flac"], DecodeOptions(language="en"))
    assert [b.text for b in batch] == [a.text, a.text]
    assert "ask not what your country can do for you" in normalize(a.text)


def test_ct2_rejects_what_it_cannot_do(ct2, speech):
    with pytest.raises(UnsupportedOptionError, match="float16"):
        backends.load("ctranslate2", "fixture:tiny.en", compute_type="float16")
    with pytest.raises(UnsupportedOptionError, match="not available"):
        backends.load("ctranslate2", "fixture:tiny.en", device="cuda") if not ct2._device_available("cuda") else pytest.skip("a GPU is present")
    with pytest.raises(UnsupportedOptionError, match="does not run on device 'mps'"):
        backends.load("ctranslate2", "fixture:tiny.en", device="mps")
    with pytest.raises(UnsupportedOptionError, match="temperature fallback"):
        ct2.transcribe(speech / "jfk" / "jfk.flac", DecodeOptions(algorithm="chunked", temperatures=(0.0, 0.5)))
    with pytest.raises(UnsupportedOptionError, match="English-only"):
        ct2.transcribe(speech / "jfk" / "jfk.flac", DecodeOptions(language="fr"))
    with pytest.raises(UnsupportedOptionError, match="does not understand"):
        backends.load("ctranslate2", "fixture:tiny.en", extra={"flash": True})


def test_ct2_model_errors(tmp_path: Path, tiny_en_ct2: Path):
    require("faster_whisper")
    with pytest.raises(ModelError, match="not found"):
        backends.load("ctranslate2", str(tmp_path / "nothing_here") + "/")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (broken / name).write_bytes((tiny_en_ct2 / name).read_bytes())
    (broken / "model.bin").write_bytes((tiny_en_ct2 / "model.bin").read_bytes()[:100_000])
    with pytest.raises(ModelError, match="cannot load"):
        backends.load("ctranslate2", str(broken))
