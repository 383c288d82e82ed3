"""Audio input: anything FFmpeg decodes -> 16 kHz mono float32, in-process via PyAV."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from whisperbench.errors import AudioError, warn

SAMPLE_RATE = 16_000

AudioInput = Union[str, os.PathLike, np.ndarray]


# A decode that falls short of the duration the file declares by more than this
# (seconds, or this share of it) is reported. Intact files on the shared speech sets
# decode to within 0.02 s of what they declare.
SHORTFALL_SECONDS = 0.2
SHORTFALL_SHARE = 0.01


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray
    # Set when the file decoded incompletely (damaged packets skipped, or less audio than
    # the container declares): the result covers only what was decoded.
    warning: str | None = None


def load_audio(source: AudioInput, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Return mono float32 samples at `sample_rate` from a file path or an array.

    Arrays are taken to be mono at `sample_rate` already and are validated only. A file
    that decodes incompletely prints a warning (see `read_audio` to get it instead).
    """
    return read_audio(source, sample_rate, announce=True).samples


def read_audio(source: AudioInput, sample_rate: int = SAMPLE_RATE, announce: bool = False) -> DecodedAudio:
    """As `load_audio`, returning the samples with the decode's warning, if any (printed
    too when `announce`)."""
    if isinstance(source, np.ndarray):
        return DecodedAudio(_check_array(source, "array input"))
    decoded = decode_file(source, sample_rate)
    if announce and decoded.warning:
        warn(decoded.warning)
    return DecodedAudio(_check_array(decoded.samples, str(source)), decoded.warning)


def decode_file(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> DecodedAudio:
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
    bad_packets, last_error = 0, ""
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(f"no audio stream in {path}")
            stream = container.streams.audio[0]
            declared = (float(stream.duration * stream.time_base) if stream.duration
                        else container.duration / av.time_base if container.duration else None)
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError as exc:  # a damaged packet: skipped, as ffmpeg does
                    bad_packets, last_error = bad_packets + 1, str(exc)
                    continue
                for frame in frames:
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
        why = f" ({bad_packets} damaged packets: {last_error})" if bad_packets else ""
        raise AudioError(f"audio file has no samples: {path}{why}")
    samples = np.concatenate(pieces).astype(np.float32, copy=False)
    seconds = samples.shape[0] / sample_rate
    problems = []
    if declared and declared - seconds > max(SHORTFALL_SECONDS, SHORTFALL_SHARE * declared):
        problems.append(f"decoded {seconds:.1f} s of the {declared:.1f} s the file declares")
    if bad_packets:
        problems.append(f"{bad_packets} damaged packet(s) skipped ({last_error})")
    warning = None
    if problems:
        warning = f"{path}: incomplete audio, {'; '.join(problems)}: truncated or damaged file? Only the decoded audio is transcribed"
    return DecodedAudio(samples, warning)


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
