"""Audio input: anything FFmpeg decodes -> 16 kHz mono float32, in-process via PyAV."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np

from whisperbench.errors import AudioError

SAMPLE_RATE = 16_000

AudioInput = Union[str, os.PathLike, np.ndarray]


def load_audio(source: AudioInput, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Return mono float32 samples at `sample_rate` from a file path or an array.

    Arrays are taken to be mono at `sample_rate` already and are validated only.
    """
    if isinstance(source, np.ndarray):
        return _check_array(source, "array input")
    return _check_array(decode_file(source, sample_rate), str(source))


def decode_file(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    import av  # PyAV: FFmpeg's decoders and resampler in-process

    path = Path(path)
    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    if path.is_dir():
        raise AudioError(f"audio path is a directory, not a file: {path}")
    if path.stat().st_size == 0:
        raise AudioError(f"audio file is empty (0 bytes): {path}")

    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    pieces: list[np.ndarray] = []
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(f"no audio stream in {path}")
            stream = container.streams.audio[0]
            for frame in container.decode(stream):
                frame.pts = None  # let the resampler work on sample counts, not timestamps
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):  # flush
                pieces.append(out.to_ndarray().reshape(-1))
    except AudioError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise AudioError(f"cannot decode audio file {path}: {exc}") from None
    if not pieces:
        raise AudioError(f"audio file has no samples: {path}")
    return np.concatenate(pieces).astype(np.float32, copy=False)


def _check_array(samples: np.ndarray, what: str) -> np.ndarray:
    if samples.ndim != 1:
        raise AudioError(
            f"{what}: expected mono samples (1-D), got shape {samples.shape}; pass a file path to down-mix"
        )
    if samples.size == 0:
        raise AudioError(f"{what}: audio has zero samples")
    if not np.issubdtype(samples.dtype, np.floating):
        raise AudioError(f"{what}: expected float samples in [-1, 1], got dtype {samples.dtype}")
    samples = samples.astype(np.float32, copy=False)
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{what}: audio contains NaN or infinite samples")
    return samples


def duration_seconds(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    return samples.shape[0] / sample_rate
