"""Perturbed datasets (kind `perturb`): bit-identical per seed, what each perturbation does
to the signal, and the spec recorded in the dataset's identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from whisperbench.audio import SAMPLE_RATE
from whisperbench.bench import datasets as ds
from whisperbench.bench import perturb
from whisperbench.bench.perturb import PerturbSpec
from whisperbench.bench.suite import dataset_spec
from whisperbench.errors import WhisperbenchError


def jfk_source(speech: Path) -> ds.DatasetSpec:
    return ds.DatasetSpec(name="jfk", kind="manifest", path=str(speech / "jfk" / "manifest.jsonl"))


def perturbed(speech: Path, **spec) -> ds.Dataset:
    p = PerturbSpec(**spec)
    parts = None if p.non_speech else (jfk_source(speech),)
    return ds.load(ds.DatasetSpec(name="p", kind="perturb", path="", parts=parts, perturb=p))


@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(perturb.NON_SPEECH), seed=st.integers(0, 2**31), index=st.integers(0, 50))
def test_non_speech_is_bit_identical_per_seed_and_differs_across_seeds(kind, seed, index):
    spec = PerturbSpec(kind=kind, seed=seed, seconds=1.0)
    a, b = perturb.non_speech(spec, index), perturb.non_speech(spec, index)
    assert a.dtype == np.float32 and len(a) == SAMPLE_RATE
    assert a.tobytes() == b.tobytes()
    other = perturb.non_speech(PerturbSpec(kind=kind, seed=seed + 1, seconds=1.0), index)
    if kind == "silence":
        assert not a.any()
    else:
        assert a.tobytes() != other.tobytes()
        assert np.sqrt(np.mean(a.astype(np.float64) ** 2)) == pytest.approx(perturb.NON_SPEECH_RMS, rel=1e-3)


def test_noise_colours_have_their_spectral_slopes():
    gen = np.random.default_rng(0)
    slopes = {}
    for colour in perturb.NOISES:
        x = perturb.noise(colour, 1 << 16, gen)
        power = np.abs(np.fft.rfft(x)) ** 2
        f = np.arange(len(power))
        band = (f > 50) & (f < 20000)
        slopes[colour] = np.polyfit(np.log10(f[band]), np.log10(power[band] + 1e-12), 1)[0]
    assert slopes["white"] == pytest.approx(0, abs=0.1)
    assert slopes["pink"] == pytest.approx(-1, abs=0.15)
    assert slopes["brown"] == pytest.approx(-2, abs=0.3)


@settings(max_examples=20, deadline=None)
@given(snr=st.sampled_from([20.0, 10.0, 5.0, 0.0]), seed=st.integers(0, 1000))
def test_mix_hits_the_snr(snr, seed):
    gen = np.random.default_rng(seed)
    speech = (0.1 * np.sin(np.arange(SAMPLE_RATE) * 0.05)).astype(np.float32)
    noise = perturb.noise("pink", len(speech), gen)
    mixed = perturb.mix_at_snr(speech, noise, snr)
    n = mixed.astype(np.float64) - speech
    measured = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(n**2))
    assert measured == pytest.approx(snr, abs=0.01)


def test_insert_silence_lands_in_a_pause_and_keeps_the_speech():
    x = np.ones(3 * SAMPLE_RATE, dtype=np.float32)
    x[int(1.4 * SAMPLE_RATE): int(1.6 * SAMPLE_RATE)] = 0  # the pause
    out, at = perturb.insert_silence(x, 2.0)
    assert 1.4 * SAMPLE_RATE <= at <= 1.6 * SAMPLE_RATE
    assert len(out) == len(x) + 2 * SAMPLE_RATE
    assert not out[at: at + 2 * SAMPLE_RATE].any()
    assert np.array_equal(np.concatenate([out[:at], out[at + 2 * SAMPLE_RATE:]]), x)


def test_gain_clips():
    spec = PerturbSpec(kind="gain", gain_db=40.0)
    out = perturb.apply(spec, np.array([0.001, 0.5, -0.5], dtype=np.float32), 0)
    assert out.tolist() == pytest.approx([0.1, 1.0, -1.0])


def test_dataset_kind_perturb_non_speech_has_empty_references_and_no_warning(speech, capsys):
    d = perturbed(speech, kind="pink", count=2, seconds=2.0, seed=7)
    assert [u.reference for u in d] == ["", ""] and d.ids == ["pink2s-000", "pink2s-001"]
    assert "empty reference" not in capsys.readouterr().err  # generated silence is meant to be empty
    again = perturbed(speech, kind="pink", count=2, seconds=2.0, seed=7)
    assert d.content_hash == again.content_hash
    assert [u.load().tobytes() for u in d] == [u.load().tobytes() for u in again]
    assert perturbed(speech, kind="pink", count=2, seconds=2.0, seed=8).content_hash != d.content_hash


def test_dataset_kind_perturb_speech_keeps_references_and_records_the_spec(speech):
    source = ds.load(jfk_source(speech))
    d = perturbed(speech, kind="snr", snr_db=5.0, noise="brown", seed=3)
    assert [u.reference for u in d] == [u.reference for u in source]
    assert d.ids == [f"{u.id}+snr5dB-brown" for u in source]
    a, b = d.utterances[0].load(), perturbed(speech, kind="snr", snr_db=5.0, noise="brown", seed=3).utterances[0].load()
    assert a.tobytes() == b.tobytes() and len(a) == len(source.utterances[0].load())
    assert perturbed(speech, kind="snr", snr_db=0.0, noise="brown", seed=3).content_hash != d.content_hash
    # The spec round-trips through the JSON a cell's child process gets.
    again = ds.DatasetSpec.from_dict(d.spec.to_dict())
    assert again == d.spec and ds.load(again).content_hash == d.content_hash


def test_suite_table_builds_a_perturb_spec(speech, tmp_path):
    spec = dataset_spec({"name": "noisy", "kind": "perturb", "perturb": {"kind": "insert_silence", "silence_seconds": 30},
                         "source": {"kind": "manifest", "path": str(speech / "jfk" / "manifest.jsonl")}}, tmp_path)
    assert spec.perturb == PerturbSpec(kind="insert_silence", silence_seconds=30) and spec.parts[0].kind == "manifest"
    with pytest.raises(WhisperbenchError, match="unknown; valid"):
        PerturbSpec(kind="music")
    with pytest.raises(WhisperbenchError, match="needs one source"):
        ds.load(ds.DatasetSpec(name="x", kind="perturb", path="", perturb=PerturbSpec(kind="gain")))
