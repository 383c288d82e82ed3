"""Perturbed audio for robustness datasets (dataset kind `perturb`): non-speech (digital
silence, white / pink / brown noise), speech mixed with noise at a given SNR, speech with
a long silence inserted, and speech at a gain (clipped to [-1, 1]).

Every random draw comes from a numpy `Generator` seeded with (seed, item index), so a
spec gives bit-identical audio on every machine and run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from whisperbench.audio import SAMPLE_RATE
from whisperbench.errors import WhisperbenchError

NOISES = ("white", "pink", "brown")
# Items of these kinds hold no speech: generated, with an empty reference.
NON_SPEECH = ("silence", *NOISES)
PERTURBATIONS = (*NON_SPEECH, "snr", "insert_silence", "gain")


@dataclass(frozen=True)
class PerturbSpec:
    # silence | white | pink | brown (non-speech items) | snr | insert_silence | gain
    kind: str
    seed: int = 0
    # non-speech: how many items, each this long.
    count: int = 1
    seconds: float = 30.0
    # snr: the mixed noise's colour and the speech-to-noise ratio in dB.
    noise: str = "white"
    snr_db: float = 10.0
    # insert_silence: seconds of digital silence inserted into each item, in its quietest
    # 100 ms frame of the middle third (a pause, not a word).
    silence_seconds: float = 30.0
    # gain: amplification in dB; the result is clipped to [-1, 1] (clipping above ~0 dBFS).
    gain_db: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in PERTURBATIONS:
            raise WhisperbenchError(f"perturbation {self.kind!r} unknown; valid: {', '.join(PERTURBATIONS)}")
        if self.noise not in NOISES:
            raise WhisperbenchError(f"perturbation noise {self.noise!r} unknown; valid: {', '.join(NOISES)}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise WhisperbenchError(f"perturbation seed must be an integer >= 0, got {self.seed!r}")
        if not isinstance(self.count, int) or self.count < 1:
            raise WhisperbenchError(f"perturbation count must be an integer >= 1, got {self.count!r}")
        if self.seconds <= 0 or self.silence_seconds <= 0:
            raise WhisperbenchError("perturbation seconds and silence_seconds must be > 0")

    @property
    def non_speech(self) -> bool:
        return self.kind in NON_SPEECH

    def label(self) -> str:
        """A short name for ids: what was done, with its parameter."""
        return {"snr": f"snr{self.snr_db:g}dB-{self.noise}", "insert_silence": f"sil{self.silence_seconds:g}s",
                "gain": f"gain{self.gain_db:+g}dB"}.get(self.kind, f"{self.kind}{self.seconds:g}s")

    def to_dict(self) -> dict:
        return asdict(self)

    def digest(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def rng(spec: PerturbSpec, index: int) -> np.random.Generator:
    return np.random.default_rng([spec.seed, index])


def noise(colour: str, n: int, gen: np.random.Generator) -> np.ndarray:
    """`n` samples of noise of this colour with unit RMS (float64): white is flat, pink falls
    3 dB per octave (1/f power), brown 6 dB per octave (1/f^2, integrated white)."""
    white = gen.standard_normal(n)
    if colour == "white":
        out = white
    elif colour == "pink":
        spectrum = np.fft.rfft(white)
        f = np.arange(len(spectrum), dtype=np.float64)
        f[0] = 1.0
        out = np.fft.irfft(spectrum / np.sqrt(f), n)
    elif colour == "brown":
        out = np.cumsum(white)
        out -= np.linspace(out[0], out[-1], n)  # no drift: both ends at zero
    else:
        raise WhisperbenchError(f"noise colour {colour!r} unknown; valid: {', '.join(NOISES)}")
    out = out - out.mean()
    rms = np.sqrt(np.mean(out**2))
    return out / rms if rms > 0 else out


# Level of generated non-speech noise: RMS 0.05 (about -26 dBFS, a quiet room recording).
NON_SPEECH_RMS = 0.05


def non_speech(spec: PerturbSpec, index: int) -> np.ndarray:
    n = int(round(spec.seconds * SAMPLE_RATE))
    if spec.kind == "silence":
        return np.zeros(n, dtype=np.float32)
    return (NON_SPEECH_RMS * noise(spec.kind, n, rng(spec, index))).astype(np.float32)


def mix_at_snr(speech: np.ndarray, noise_unit: np.ndarray, snr_db: float) -> np.ndarray:
    """Speech plus noise scaled so 10*log10(P_speech / P_noise) = snr_db (clipped to [-1, 1])."""
    p = float(np.mean(speech.astype(np.float64) ** 2))
    scale = np.sqrt(p / 10 ** (snr_db / 10)) if p > 0 else 0.0
    return np.clip(speech + scale * noise_unit, -1.0, 1.0).astype(np.float32)


def quiet_point(samples: np.ndarray, frame: int = SAMPLE_RATE // 10) -> int:
    """The start of the quietest `frame` in the middle third (a pause to insert silence into)."""
    lo, hi = len(samples) // 3, 2 * len(samples) // 3
    if hi - lo < frame:
        return len(samples) // 2
    x = samples[lo:hi].astype(np.float64) ** 2
    energy = np.convolve(x, np.ones(frame), mode="valid")
    return lo + int(np.argmin(energy)) + frame // 2


def insert_silence(samples: np.ndarray, seconds: float) -> tuple[np.ndarray, int]:
    """The samples with `seconds` of digital silence inserted at `quiet_point`, and that point."""
    at = quiet_point(samples)
    gap = np.zeros(int(round(seconds * SAMPLE_RATE)), dtype=np.float32)
    return np.concatenate([samples[:at], gap, samples[at:]]).astype(np.float32), at


def apply(spec: PerturbSpec, samples: np.ndarray, index: int) -> np.ndarray:
    """The perturbed version of source item `index` (speech perturbations)."""
    if spec.kind == "snr":
        return mix_at_snr(samples, noise(spec.noise, len(samples), rng(spec, index)), spec.snr_db)
    if spec.kind == "insert_silence":
        return insert_silence(samples, spec.silence_seconds)[0]
    if spec.kind == "gain":
        return np.clip(samples.astype(np.float64) * 10 ** (spec.gain_db / 20), -1.0, 1.0).astype(np.float32)
    raise WhisperbenchError(f"perturbation {spec.kind!r} makes its own audio (no source items)")
