"""What synthetic timing needs from a runtime: `SyntheticPrimitives`.

Each runtime that can be timed with random weights implements it in its own package
(`backends/<runtime>/synthetic.py`), sharing its load helpers with the adapter, and names
the class in its registry entry (`BackendSpec.synthetic`). The primitives load weights of an
architecture's shapes, take inputs to the device, run the encoder alone, generate exactly
N tokens from features, decode N tokens from the kept encoder output (or read the
runtime's own decoder timing) and release everything. Random weights, the timing loop and
the rows are `whisperbench.bench.synthetic`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np

from whisperbench.conversion.checkpoint import Dims, SpecialTokens
from whisperbench.errors import UnsupportedOptionError, WhisperbenchError

# <|startoftranscript|> <|en|> <|transcribe|> <|notimestamps|> (2 for .en)
PROMPT_TOKENS = 4


class SyntheticError(WhisperbenchError):
    """A synthetic timing that cannot be done as asked."""


class Skip(WhisperbenchError):
    """This runtime cannot do this cell; the reason is recorded as a `skipped` row."""


@dataclass
class Inputs:
    features: np.ndarray  # [B, n_mels, 3000] float32 log-mel-like values
    pcm: np.ndarray  # 30 s of 16 kHz noise (whisper.cpp computes its own features)


def make_inputs(dims: Dims, batch_size: int, seed: int = 0) -> Inputs:
    rng = np.random.default_rng(seed)
    feats = (rng.standard_normal((batch_size, dims.n_mels, 3000), dtype=np.float32) * 0.3).clip(-1.5, 1.5)
    pcm = (rng.standard_normal(16000 * 30, dtype=np.float32) * 0.05).clip(-1, 1)
    return Inputs(feats, pcm)


def prompt(dims: Dims, special: SpecialTokens) -> list[int]:
    """The decoder prompt: English transcription without timestamps."""
    if dims.multilingual:
        return [special.sot, special.languages["en"], special.transcribe, special.no_timestamps]
    return [special.sot, special.no_timestamps]


class SyntheticPrimitives:
    """One runtime's synthetic-timing primitives, loaded with random weights (`__init__`).

    Class data says what the runtime can time; an instance times one cell."""

    backend: ClassVar[str]
    # How the decode length is held at N (recorded as `fixed_length_method`).
    method: str = ""
    # How `decode` times the decoder alone.
    decoder_method: ClassVar[str] = "generate from the kept encoder output"
    # False: runs without weights (the dummy).
    needs_weights: ClassVar[bool] = True
    # Compute types implemented: a subset of what the adapter accepts.
    compute_types: ClassVar[tuple[str, ...]] = ()
    # -O KEY=VALUE options honoured, with what each does; any other is refused.
    option_help: ClassVar[Mapping[str, str]] = {}
    # Shapes the runtime can run: the mel bins its features take (None: any), whether it
    # assumes FFN = 4 x d_model, the longest text context, whether one window samples at
    # most n_text_ctx // 2 tokens.
    mel_bins: ClassVar[tuple[int, ...] | None] = (80, 128)
    standard_ffn_only: ClassVar[bool] = False
    max_text_ctx: ClassVar[int | None] = None
    half_context_sampling: ClassVar[bool] = False

    @classmethod
    def runtime_name(cls) -> str:
        from whisperbench.backends import runtime_name

        return runtime_name(cls.backend)

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        unknown = sorted(set(options) - set(cls.option_help))
        if unknown:
            valid = "; ".join(f"{k}: {v}" for k, v in cls.option_help.items()) or "none"
            raise UnsupportedOptionError(
                f"{cls.runtime_name()} synthetic timing has no option {', '.join(unknown)} (its options: {valid})"
            )

    @classmethod
    def storage_quantization(cls, compute_type: str) -> str:
        """The weight precision written (and read per decoder step) for a compute type."""
        return compute_type

    @classmethod
    def shape_problem(cls, dims: Dims, audio_ffn: int, text_ffn: int) -> str | None:
        """Why this runtime cannot run these shapes, to follow "<runtime> cannot run <arch>: "
        (None: it can)."""
        if cls.mel_bins is not None and dims.n_mels not in cls.mel_bins:
            return f"n_mels={dims.n_mels}; Whisper feature extractors produce 80 or 128"
        if cls.standard_ffn_only and (audio_ffn, text_ffn) != (4 * dims.n_audio_state, 4 * dims.n_text_state):
            return (f"it assumes FFN = 4 x d_model ({4 * dims.n_audio_state} encoder / {4 * dims.n_text_state} "
                    f"decoder), but the dimensions give n_audio_ffn={audio_ffn}, n_text_ffn={text_ffn}")
        if cls.max_text_ctx is not None and dims.n_text_ctx > cls.max_text_ctx:
            return f"n_text_ctx={dims.n_text_ctx} > {cls.max_text_ctx}"
        return None

    @classmethod
    def max_decode_tokens(cls, dims: Dims) -> int:
        """The most tokens one window can decode after the prompt."""
        ctx = dims.n_text_ctx // 2 if cls.half_context_sampling else dims.n_text_ctx
        return ctx - PROMPT_TOKENS

    def __init__(self, dims: Dims, path: Path | None, device: str, compute_type: str, threads: int,
                 options: Mapping[str, Any]) -> None:
        self.dims, self.path, self.device, self.compute_type = dims, path, device, compute_type
        self.kind = device.split(":", 1)[0]
        self.threads = threads
        self.options = dict(options)
        self.special = SpecialTokens.for_dims(dims)
        self.prompt = prompt(dims, self.special)
        # Runtime-specific facts recorded in the row (e.g. the attention implementation).
        self.extra: dict[str, Any] = {}
        self.load()

    def load(self) -> None: ...

    def prepare(self, inputs: Inputs) -> None:
        """Move inputs to the device (outside every timed region)."""

    def encode(self) -> float:
        """Seconds for the encoder on the prepared batch; keeps its output for `decode`."""
        raise NotImplementedError

    def generate(self, n: int) -> tuple[float, list[int]]:
        """Features -> exactly n tokens per item through the runtime's generate (encoder
        included): (seconds, decoded lengths read back from the runtime's output)."""
        raise NotImplementedError

    def decode(self, n: int) -> tuple[float, list[int]]:
        """The decoder alone: n tokens per item from the encoder output kept by the last
        `encode` (or the runtime's own timing of the last `generate`)."""
        raise NotImplementedError

    def force_length(self) -> bool:
        """The first generate stopped short of n: switch to a (slower) way of holding the
        length, if the runtime has one. True when it did (generate again)."""
        return False

    def timing_extra(self) -> dict[str, Any]:
        """Runtime-specific row fields known after timing (e.g. the runtime's own timings)."""
        return {}

    # A runtime with its own device allocator (PyTorch) reports that allocator's peak.
    @classmethod
    def reset_allocator_peak(cls, device: str) -> None: ...

    @classmethod
    def allocator_peak_mb(cls, device: str) -> float | None:
        return None

    def close(self) -> None:
        """Release the model (and any device cache it leaves)."""
