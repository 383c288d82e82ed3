"""The in-memory Whisper checkpoint every reader produces and every writer consumes.

Weights are numpy arrays keyed by openai-whisper's state-dict names (the most compact
naming, shared by whisper.cpp). Readers may hand out memory-mapped arrays, so a
conversion touches each tensor once and never holds two full copies.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from whisperbench.errors import ConversionError

# Bumped whenever a writer's output changes; part of ensure_format's cache key.
CONVERTER_VERSION = "1"

# Whisper's language tokens, in vocabulary order (Hugging Face spelling: "iw" for Hebrew).
LANGUAGE_CODES: tuple[str, ...] = tuple(
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi iw uk el ms cs ro da hu ta no th ur "
    "hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si "
    "km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha "
    "ba jw su yue".split()
)
TASK_TOKENS = ("translate", "transcribe", "startoflm", "startofprev", "nocaptions", "notimestamps")


@dataclass(frozen=True)
class Dims:
    """openai-whisper's ModelDimensions (the same ten numbers whisper.cpp stores)."""

    n_mels: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_vocab: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @property
    def multilingual(self) -> bool:
        return self.n_vocab >= 51865

    @property
    def num_languages(self) -> int:
        return self.n_vocab - 51765 - int(self.multilingual)


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of Whisper's special tokens, which follow from the vocabulary size alone."""

    eot: int
    sot: int
    languages: dict[str, int]
    translate: int
    transcribe: int
    sot_lm: int
    sot_prev: int
    no_speech: int
    no_timestamps: int
    timestamp_begin: int

    @classmethod
    def for_dims(cls, dims: Dims) -> "SpecialTokens":
        eot = 50257 if dims.multilingual else 50256
        sot = eot + 1
        n = dims.num_languages
        langs = {code: sot + 1 + i for i, code in enumerate(LANGUAGE_CODES[:n])}
        t = sot + 1 + n
        return cls(eot, sot, langs, t, t + 1, t + 2, t + 3, t + 4, t + 5, t + 6)

    def named(self) -> list[tuple[int, str]]:
        """(id, content) of every special token before the timestamps, in id order."""
        out = [(self.eot, "<|endoftext|>"), (self.sot, "<|startoftranscript|>")]
        out += [(i, f"<|{code}|>") for code, i in self.languages.items()]
        out += [(self.translate + k, f"<|{name}|>") for k, name in enumerate(TASK_TOKENS)]
        return out


@dataclass
class Checkpoint:
    dims: Dims
    weights: dict[str, np.ndarray]
    # Hugging Face tokenizers JSON (byte-level BPE) without timestamp tokens.
    tokenizer_json: str | None = None
    suppress_tokens: list[int] = field(default_factory=list)
    begin_suppress_tokens: list[int] = field(default_factory=list)
    # (decoder layer, head) pairs that align text to audio; None when unknown.
    alignment_heads: list[tuple[int, int]] | None = None
    distilled: bool = False
    # How the weights were stored at the source ("float16", "int8", "q5_0", ...).
    source_quantization: str = "float32"
    source_format: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def english_only(self) -> bool:
        return not self.dims.multilingual

    @property
    def special(self) -> SpecialTokens:
        return SpecialTokens.for_dims(self.dims)

    def alignment_heads_or_default(self) -> list[tuple[int, int]]:
        """Known heads, else the last half of the decoder layers (openai-whisper's default)."""
        if self.alignment_heads:
            return [tuple(h) for h in self.alignment_heads]
        d = self.dims
        return list(itertools.product(range(d.n_text_layer // 2, d.n_text_layer), range(d.n_text_head)))

    def nbytes(self) -> int:
        return sum(int(w.nbytes) for w in self.weights.values())

    def iter_weights(self) -> Iterator[tuple[str, np.ndarray]]:
        yield from self.weights.items()

    def check(self) -> None:
        """Raise ConversionError when a required tensor is missing or misshapen."""
        expected = expected_shapes(self.dims)
        missing = sorted(set(expected) - set(self.weights))
        if missing:
            raise ConversionError(f"checkpoint lacks {len(missing)} tensor(s), e.g. {missing[0]}")
        for name, shape in expected.items():
            got = tuple(self.weights[name].shape)
            if got != shape:
                raise ConversionError(f"tensor {name} has shape {got}, expected {shape}")


def block_names(prefix: str, cross: bool) -> dict[str, str]:
    """Suffixes of one residual block: {suffix: kind} where kind is w/b/ln."""
    parts = ["attn", "cross_attn"] if cross else ["attn"]
    out: dict[str, str] = {}
    for a in parts:
        for proj in ("query", "key", "value", "out"):
            out[f"{prefix}.{a}.{proj}.weight"] = "w"
            if proj != "key":
                out[f"{prefix}.{a}.{proj}.bias"] = "b"
        out[f"{prefix}.{a}_ln.weight"] = "ln"
        out[f"{prefix}.{a}_ln.bias"] = "ln"
    for k in ("0", "2"):
        out[f"{prefix}.mlp.{k}.weight"] = "w"
        out[f"{prefix}.mlp.{k}.bias"] = "b"
    out[f"{prefix}.mlp_ln.weight"] = "ln"
    out[f"{prefix}.mlp_ln.bias"] = "ln"
    return out


def expected_shapes(d: Dims) -> dict[str, tuple[int, ...]]:
    """Every tensor of a Whisper model with its shape, in openai-whisper's naming."""
    s: dict[str, tuple[int, ...]] = {
        "encoder.conv1.weight": (d.n_audio_state, d.n_mels, 3),
        "encoder.conv1.bias": (d.n_audio_state,),
        "encoder.conv2.weight": (d.n_audio_state, d.n_audio_state, 3),
        "encoder.conv2.bias": (d.n_audio_state,),
        "encoder.positional_embedding": (d.n_audio_ctx, d.n_audio_state),
    }
    for side, n_layer, width in (("encoder", d.n_audio_layer, d.n_audio_state), ("decoder", d.n_text_layer, d.n_text_state)):
        for i in range(n_layer):
            for name, kind in block_names(f"{side}.blocks.{i}", side == "decoder").items():
                if ".mlp.0." in name:
                    shape = (4 * width, width) if kind == "w" else (4 * width,)
                elif ".mlp.2." in name:
                    shape = (width, 4 * width) if kind == "w" else (width,)
                else:
                    shape = (width, width) if kind == "w" else (width,)
                s[name] = shape
        if side == "encoder":
            s["encoder.ln_post.weight"] = (width,)
            s["encoder.ln_post.bias"] = (width,)
    s["decoder.token_embedding.weight"] = (d.n_vocab, d.n_text_state)
    s["decoder.positional_embedding"] = (d.n_text_ctx, d.n_text_state)
    s["decoder.ln.weight"] = (d.n_text_state,)
    s["decoder.ln.bias"] = (d.n_text_state,)
    return s


def ordered_names(d: Dims) -> list[str]:
    return list(expected_shapes(d))
