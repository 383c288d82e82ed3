"""Voice-activity detection with Silero VAD (the `silero-vad` package, on onnxruntime).

The shared layers (chunk placement today) ask for the speech regions of some audio; the
model is loaded once per process. Parameters are a frozen dataclass so rows can record
exactly what ran.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from importlib import metadata

import numpy as np

from whisperbench.audio import SAMPLE_RATE
from whisperbench.errors import BackendNotInstalledError


@dataclass(frozen=True)
class VadParams:
    # Speech probability above which a 32 ms frame is speech (Silero's default).
    threshold: float = 0.5
    # Silence shorter than this does not end a speech region.
    min_silence_ms: int = 200
    # Padding added to each side of a speech region.
    speech_pad_ms: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def provider() -> str:
    """What runs the detection, with its version (for rows)."""
    return f"silero-vad {metadata.version('silero-vad')} (onnxruntime)"


@functools.lru_cache(maxsize=1)
def _model():
    try:
        import silero_vad
    except ImportError:
        raise BackendNotInstalledError(
            "voice-activity detection needs the silero-vad package: pip install 'whisperbench[vad]'"
        ) from None
    return silero_vad, silero_vad.load_silero_vad(onnx=True)


def load() -> None:
    """Load the model (and torch, which the detection takes its input in) now, so a timed
    region that detects speech does not also time a one-off load."""
    _model()
    import torch  # noqa: F401


def speech_regions(samples: np.ndarray, params: VadParams = VadParams()) -> list[tuple[int, int]]:
    """(first sample, one past the last sample) of each speech region, in order."""
    silero_vad, model = _model()
    import torch

    model.reset_states()
    found = silero_vad.get_speech_timestamps(
        torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), model,
        threshold=params.threshold, sampling_rate=SAMPLE_RATE,
        min_silence_duration_ms=params.min_silence_ms, speech_pad_ms=params.speech_pad_ms,
    )
    return [(int(r["start"]), int(r["end"])) for r in found]


def silences(samples: np.ndarray, params: VadParams = VadParams()) -> list[tuple[int, int]]:
    """The gaps between speech regions (leading and trailing silence included), in samples."""
    regions = speech_regions(samples, params)
    edges = [0] + [x for r in regions for x in r] + [len(samples)]
    return [(a, b) for a, b in zip(edges[0::2], edges[1::2]) if b > a]
