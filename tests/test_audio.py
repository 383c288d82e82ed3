"""Audio input (whisperbench.audio): files of every kind decoded to 16 kHz mono, clear errors,
and incompletely decoded audio warned about and recorded, never silently transcribed in
part (an MP3 cut in half was once transcribed in half with no warning)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whisperbench import backends
from whisperbench.audio import SAMPLE_RATE, load_audio, read_audio
from whisperbench.errors import AudioError
from whisperbench.options import DecodeOptions


@pytest.fixture(scope="module")
def sonnet_mp3(speech) -> Path:
    return speech / "sonnets" / "p001.mp3"


def test_intact_files_decode_without_warning(speech):
    files = [p for p in sorted(speech.rglob("*")) if p.suffix in (".mp3", ".flac", ".wav")]
    assert len(files) > 50
    for p in files:
        assert read_audio(p).warning is None, p


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fraction=st.floats(0.05, 0.9))
def test_cut_mp3_is_reported_with_what_was_decoded(sonnet_mp3, tmp_path, fraction):
    data = sonnet_mp3.read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: int(len(data) * fraction)])
    decoded = read_audio(cut)
    seconds = len(decoded.samples) / SAMPLE_RATE
    assert decoded.warning is not None
    assert f"decoded {seconds:.1f} s of the 53.3 s the file declares" in decoded.warning
    assert seconds == pytest.approx(53.27 * fraction, abs=2.0)  # 64 kbit/s CBR: bytes ~ time


def test_damaged_packets_are_skipped_and_reported(sonnet_mp3, tmp_path):
    data = bytearray(sonnet_mp3.read_bytes())
    rng = np.random.default_rng(1)
    data[100_000:300_000] = rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    path = tmp_path / "garbled.mp3"
    path.write_bytes(bytes(data))
    decoded = read_audio(path)
    assert "damaged packet(s) skipped" in decoded.warning and "of the 53.3 s" in decoded.warning
    # a cut FLAC (its header declares the length) is a warning too, no longer a decode error
    flac = tmp_path / "cut.flac"
    flac.write_bytes((sonnet_mp3.parent.parent / "jfk" / "jfk.flac").read_bytes()[:300_000])
    assert "of the 11.0 s the file declares" in read_audio(flac).warning


def test_backend_result_and_stderr_carry_the_warning(sonnet_mp3, tmp_path, capsys):
    cut = tmp_path / "half.mp3"
    cut.write_bytes(sonnet_mp3.read_bytes()[:200_000])
    b = backends.load("dummy", "none")
    res = b.transcribe(str(cut), DecodeOptions(algorithm="sequential"))
    assert "decoded 25.0 s of the 53.3 s" in res.extra["audio_warning"]
    assert res.timing.audio_seconds == pytest.approx(25.0, abs=0.1)
    assert "whisperbench: warning: " in capsys.readouterr().err
    whole = b.transcribe(str(sonnet_mp3), DecodeOptions(algorithm="sequential"))
    assert "audio_warning" not in whole.extra


def test_dataset_utterance_and_long_form_record_the_warning(sonnet_mp3, tmp_path):
    from whisperbench.bench import datasets as bd

    cut = tmp_path / "half.mp3"
    cut.write_bytes(sonnet_mp3.read_bytes()[:200_000])
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"audio_filepath": str(p), "text": "x", "id": i}) + "\n"
                                for i, p in (("whole", sonnet_mp3), ("half", cut))))
    d = bd.load(bd.DatasetSpec(name="t", kind="manifest", path=str(manifest)))
    for u in d.utterances:
        u.load()
    assert [u.audio_warning is not None for u in d.utterances] == [False, True]
    long = bd.load(bd.DatasetSpec(name="t", kind="manifest", path=str(manifest),
                                  longform=bd.LongformSpec(target_seconds=200)))
    (joined,) = long.utterances
    joined.load()
    assert "half.mp3: incomplete audio" in joined.audio_warning


# ----- decoding and resampling -------------------------------------------------------------
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
