"""Language identification and translation with the multilingual base fixture (issue 21
items 7-8): with no language given every runtime that can detect one reports it and its
probability (the same model, so the same answer within rounding), and `task='translate'`
works on a multilingual model (its refusal on English-only models is
test_contract.py::test_english_only_model_rejects_other_languages_and_translate)."""

from __future__ import annotations

import json

import pytest

from whisperbench.options import DecodeOptions
from whisperbench.paths import speech_dir

BASE = "fixture:base"
# The runtimes that detect languages (Transformers.js through whisperbench's worker: the
# library itself has no detection).
DETECTING = ["ctranslate2", "openai", "transformers", "whispercpp", "transformersjs"]


@pytest.fixture(scope="module")
def german():
    """A Common Voice German clip (3.1 s): samples and reference."""
    from whisperbench.audio import load_audio

    manifest = speech_dir() / "multilingual" / "manifest.jsonl"
    row = next(r for r in map(json.loads, manifest.read_text().splitlines()) if r["id"] == "common_voice_de_17516931")
    return load_audio(manifest.parent / row["audio_filepath"]), row["text"]


@pytest.fixture(scope="module")
def detected_by_ctranslate2(load_backend, german):
    """CTranslate2's transcription of the German clip with no language given."""
    return load_backend("ctranslate2", BASE).transcribe(german[0], DecodeOptions())


@pytest.mark.slow
@pytest.mark.parametrize("name", DETECTING)
def test_every_detecting_backend_reports_language_and_probability(name, load_backend, german,
                                                                  detected_by_ctranslate2):
    backend = load_backend(name, BASE)
    assert backend.multilingual and backend.capabilities.language_detection
    # openai's sequential path (whisper.transcribe) reports detection its own way; the others share one path.
    algorithms = ["short", "sequential"] if name == "openai" else ["short"]
    for algorithm in algorithms:
        res = backend.transcribe(german[0], DecodeOptions(algorithm=algorithm))
        assert res.language == "de", (name, algorithm, res.language)
        assert 0.5 < res.language_probability <= 1.0, (name, algorithm, res.language_probability)
        # Same weights, same first window: the runtimes agree on the probability within rounding
        # (whisper.cpp, faster-whisper and Transformers.js compute their own log-mel spectrograms).
        assert res.language_probability == pytest.approx(detected_by_ctranslate2.language_probability, abs=0.05), (
            name, algorithm)
        assert res.options.language is None, "the options echo what was asked: detection"


@pytest.mark.slow
def test_translate_works_on_the_multilingual_model(load_backend, german, detected_by_ctranslate2):
    heard = detected_by_ctranslate2
    translated = load_backend("ctranslate2", BASE).transcribe(german[0], DecodeOptions(language="de", task="translate"))
    assert translated.options.task == "translate" and translated.language == "de"
    assert "ironie" in heard.text.lower()  # "Das nenne ich Ironie des Schicksals."
    # Translated (base's English is rough: "I name it Ironi's Chicken Salad."), not transcribed.
    words = translated.text.lower().replace(".", " ").split()
    assert words and not {"nenne", "ich", "des", "schicksals"} & set(words), translated.text
