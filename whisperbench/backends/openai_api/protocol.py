"""What `whisperbench serve` and the `openai-api` client share: the response headers that
identify our server and carry its decode time, and the audio the client uploads."""

from __future__ import annotations

import struct

import numpy as np

from whisperbench.audio import SAMPLE_RATE

# "whisperbench/VERSION backend=...; runtime=...; model=...; device=...; compute_type=..."
SERVER_HEADER = "X-Whisperbench-Server"
# The backend's own decode time for the request (Transcription.timing.decode_seconds), seconds.
DECODE_SECONDS_HEADER = "X-Whisperbench-Decode-Seconds"


def wav_bytes(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Mono float32 samples as a WAV file (IEEE float, 32 bit): lossless, so the server
    decodes exactly the samples the in-process backend gets."""
    data = np.asarray(samples, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHHH", 3, 1, sample_rate, sample_rate * 4, 4, 32, 0)  # WAVE_FORMAT_IEEE_FLOAT, cbSize 0
    fact = b"fact" + struct.pack("<II", 4, len(samples))
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + fact + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body
