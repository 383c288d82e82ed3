"""Whisper architectures by name (real dimensions, no weights), or from a dimensions file.

An `Architecture` is openai-whisper's ten `ModelDimensions` plus the FFN widths (Whisper
uses 4 x d_model; a dimensions file may say otherwise, which some runtimes cannot run).

    get("large-v3")            -> Architecture
    get("path/to/dims.json")   -> Architecture  (JSON or TOML: the ten dims, optional
                                  n_audio_ffn / n_text_ffn, name, distilled)
    arch.runtime_problem("openai") -> None, or why that runtime cannot run these shapes
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whisperbench import backends
from whisperbench.conversion.checkpoint import Dims, expected_shapes
from whisperbench.errors import WhisperbenchError

# 30 s of 16 kHz audio = 3000 mel frames; the encoder's second convolution has stride 2.
AUDIO_CTX = 1500
TEXT_CTX = 448
DIM_FIELDS = tuple(Dims.__dataclass_fields__)

class ArchitectureError(WhisperbenchError):
    """An architecture name or dimensions file that cannot be used."""


@dataclass(frozen=True)
class Architecture:
    name: str
    dims: Dims
    n_audio_ffn: int | None = None  # None: 4 x n_audio_state
    n_text_ffn: int | None = None  # None: 4 x n_text_state
    distilled: bool = False
    source: str = "builtin"

    @property
    def audio_ffn(self) -> int:
        return self.n_audio_ffn or 4 * self.dims.n_audio_state

    @property
    def text_ffn(self) -> int:
        return self.n_text_ffn or 4 * self.dims.n_text_state

    @property
    def standard_ffn(self) -> bool:
        return self.audio_ffn == 4 * self.dims.n_audio_state and self.text_ffn == 4 * self.dims.n_text_state

    def to_dict(self) -> dict[str, Any]:
        return {**self.dims.to_dict(), "n_audio_ffn": self.audio_ffn, "n_text_ffn": self.text_ffn}

    def key(self) -> str:
        """A short hash of the shapes (the synthetic-weights cache key)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor with its shape (openai-whisper naming), FFN widths applied."""
        out = dict(expected_shapes(self.dims))
        for name in out:
            side = name.split(".", 1)[0]
            f = self.audio_ffn if side == "encoder" else self.text_ffn
            d = self.dims.n_audio_state if side == "encoder" else self.dims.n_text_state
            if ".mlp.0.weight" in name:
                out[name] = (f, d)
            elif ".mlp.0.bias" in name:
                out[name] = (f,)
            elif ".mlp.2.weight" in name:
                out[name] = (d, f)
        return out

    def parameter_count(self) -> int:
        total = 0
        for shape in self.shapes().values():
            n = 1
            for s in shape:
                n *= s
            total += n
        return total

    def validate(self) -> None:
        """Problems no runtime can live with (raises ArchitectureError)."""
        d = self.dims
        for f in DIM_FIELDS:
            if getattr(d, f) <= 0:
                raise ArchitectureError(f"{self.name}: {f} must be positive, got {getattr(d, f)}")
        if d.n_audio_state % d.n_audio_head or d.n_text_state % d.n_text_head:
            raise ArchitectureError(
                f"{self.name}: d_model must divide into heads (n_audio_state={d.n_audio_state}, "
                f"n_audio_head={d.n_audio_head}, n_text_state={d.n_text_state}, n_text_head={d.n_text_head})"
            )
        if d.n_audio_state != d.n_text_state:
            raise ArchitectureError(
                f"{self.name}: n_audio_state ({d.n_audio_state}) != n_text_state ({d.n_text_state}); the decoder's "
                "cross-attention reads the encoder output at the decoder's width in every Whisper runtime"
            )
        if d.n_vocab < 51864:
            raise ArchitectureError(f"{self.name}: n_vocab={d.n_vocab} is smaller than Whisper's tokenizer (51864)")
        if self.audio_ffn <= 0 or self.text_ffn <= 0:
            raise ArchitectureError(f"{self.name}: FFN widths must be positive")

    def runtime_problem(self, backend: str) -> str | None:
        """Why `backend`'s runtime cannot run these shapes (None: it can)."""
        d = self.dims
        runtime = backends.runtime_name(backend)
        if d.n_audio_ctx != AUDIO_CTX:
            return (
                f"{runtime} cannot run {self.name}: n_audio_ctx={d.n_audio_ctx}, but a 30 s window (3000 mel frames, "
                f"convolution stride 2) gives {AUDIO_CTX} encoder positions, which {runtime} requires "
                "(its positional embedding must match the encoder's input length)"
            )
        primitives = backends.synthetic_class(backend)
        problem = primitives.shape_problem(d, self.audio_ffn, self.text_ffn) if primitives else None
        return f"{runtime} cannot run {self.name}: {problem}" if problem else None


def _arch(name: str, n_mels: int, state: int, heads: int, enc: int, dec: int, vocab: int, distilled: bool = False):
    return Architecture(
        name,
        Dims(n_mels=n_mels, n_audio_ctx=AUDIO_CTX, n_audio_state=state, n_audio_head=heads, n_audio_layer=enc,
             n_vocab=vocab, n_text_ctx=TEXT_CTX, n_text_state=state, n_text_head=heads, n_text_layer=dec),
        distilled=distilled,
    )


# The published checkpoints' dimensions (config.json / ModelDimensions of each).
ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        _arch("tiny", 80, 384, 6, 4, 4, 51865),
        _arch("tiny.en", 80, 384, 6, 4, 4, 51864),
        _arch("base", 80, 512, 8, 6, 6, 51865),
        _arch("base.en", 80, 512, 8, 6, 6, 51864),
        _arch("small", 80, 768, 12, 12, 12, 51865),
        _arch("small.en", 80, 768, 12, 12, 12, 51864),
        _arch("medium", 80, 1024, 16, 24, 24, 51865),
        _arch("medium.en", 80, 1024, 16, 24, 24, 51864),
        _arch("large-v2", 80, 1280, 20, 32, 32, 51865),
        _arch("large-v3", 128, 1280, 20, 32, 32, 51866),
        _arch("large-v3-turbo", 128, 1280, 20, 32, 4, 51866),
        _arch("distil-large-v2", 80, 1280, 20, 32, 2, 51865, distilled=True),
        _arch("distil-large-v3", 128, 1280, 20, 32, 2, 51866, distilled=True),
    )
}
ALIASES = {"turbo": "large-v3-turbo", "large": "large-v3"}


def names() -> list[str]:
    return list(ARCHITECTURES)


def get(spec: str) -> Architecture:
    """An architecture by name, or from a JSON/TOML dimensions file."""
    key = ALIASES.get(spec, spec)
    if key in ARCHITECTURES:
        return ARCHITECTURES[key]
    path = Path(spec).expanduser()
    if path.suffix.lower() in (".json", ".toml") or path.exists():
        return load_dims_file(path)
    raise ArchitectureError(
        f"unknown architecture {spec!r}; names: {', '.join(ARCHITECTURES)} (or a .json/.toml dimensions file)"
    )


def load_dims_file(path: str | Path) -> Architecture:
    """Read a dimensions file: openai-whisper's ten ModelDimensions fields (or a transformers
    config.json), optional n_audio_ffn / n_text_ffn, name, distilled."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ArchitectureError(f"dimensions file not found: {p}")
    try:
        if p.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(p.read_text(encoding="utf-8"))
        else:
            data = json.loads(p.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ArchitectureError(f"{p}: not valid {p.suffix.lstrip('.').upper() or 'JSON'}: {exc}") from None
    if not isinstance(data, dict):
        raise ArchitectureError(f"{p}: expected a table/object of dimensions")
    data = dict(data.get("dims", data)) if isinstance(data.get("dims"), dict) else dict(data)
    if data.get("model_type") == "whisper":  # a transformers config.json
        data = {
            "n_mels": data["num_mel_bins"], "n_audio_ctx": data["max_source_positions"],
            "n_audio_state": data["d_model"], "n_audio_head": data["encoder_attention_heads"],
            "n_audio_layer": data["encoder_layers"], "n_vocab": data["vocab_size"],
            "n_text_ctx": data["max_target_positions"], "n_text_state": data["d_model"],
            "n_text_head": data["decoder_attention_heads"], "n_text_layer": data["decoder_layers"],
            "n_audio_ffn": data.get("encoder_ffn_dim"), "n_text_ffn": data.get("decoder_ffn_dim"),
            "name": data.get("name"),
        }
    missing = [f for f in DIM_FIELDS if f not in data]
    if missing:
        raise ArchitectureError(f"{p}: missing dimension(s) {', '.join(missing)}; expected {', '.join(DIM_FIELDS)}")
    unknown = sorted(set(data) - set(DIM_FIELDS) - {"n_audio_ffn", "n_text_ffn", "name", "distilled"})
    if unknown:
        raise ArchitectureError(f"{p}: unknown field(s) {', '.join(unknown)}")
    try:
        dims = Dims(**{f: int(data[f]) for f in DIM_FIELDS})
        ffn = {k: (int(data[k]) if data.get(k) is not None else None) for k in ("n_audio_ffn", "n_text_ffn")}
    except (TypeError, ValueError) as exc:
        raise ArchitectureError(f"{p}: dimensions must be integers ({exc})") from None
    arch = Architecture(
        name=str(data.get("name") or p.stem), dims=dims, distilled=bool(data.get("distilled", False)),
        source=str(p), **ffn,
    )
    arch.validate()
    return arch
