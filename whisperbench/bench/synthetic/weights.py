"""Random weights for synthetic timing: a `Checkpoint` with an architecture's shapes,
written in a runtime's weight format at the precision its compute type reads, and cached in
the cache of converted weights (`whisperbench.conversion.cache`), keyed by architecture,
format and quantization."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from whisperbench import backends
from whisperbench.bench.architectures import Architecture


def random_checkpoint(arch: Architecture, seed: int = 0, eot_eager: bool = False):
    """A random `Checkpoint` with `arch`'s shapes (float16 arrays). `eot_eager` biases
    the decoder towards end-of-text at every step (tests: proves EOT suppression works)."""
    from whisperbench.conversion.checkpoint import Checkpoint

    arch.validate()
    rng = np.random.default_rng(seed)
    weights: dict[str, np.ndarray] = {}
    for name, shape in arch.shapes().items():
        if name.endswith(("ln.weight", "_ln.weight", "ln_post.weight")):
            w = np.ones(shape, dtype=np.float32)
        elif name.endswith(("ln.bias", "_ln.bias", "ln_post.bias")) or name.endswith(".bias"):
            w = np.zeros(shape, dtype=np.float32)
        elif name == "encoder.positional_embedding":
            w = _sinusoids(*shape)
        else:
            w = rng.standard_normal(shape, dtype=np.float32)
            w *= 0.02
        weights[name] = w.astype(np.float16)
    ckpt = Checkpoint(dims=arch.dims, weights=weights, distilled=arch.distilled, source_quantization="float16",
                      source_format="random")
    if eot_eager:
        d = arch.dims.n_text_state
        u = rng.standard_normal(d).astype(np.float32)
        u /= np.linalg.norm(u)
        ckpt.weights["decoder.ln.bias"] = (2.0 * u).astype(np.float16)
        emb = ckpt.weights["decoder.token_embedding.weight"].copy()
        emb[ckpt.special.eot] = (10.0 * u).astype(np.float16)
        ckpt.weights["decoder.token_embedding.weight"] = emb
    return ckpt


def _sinusoids(length: int, channels: int) -> np.ndarray:
    half = channels // 2
    inv = np.exp(-np.log(10000) / (half - 1) * np.arange(half))
    t = np.arange(length)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1).astype(np.float32)


def storage_quantization(backend: str, compute_type: str) -> str:
    """The weight precision written for a (backend, compute type): the runtime's synthetic
    primitives say (e.g. openai-whisper keeps float32 weights whatever it computes in)."""
    primitives = backends.synthetic_class(backend)
    return primitives.storage_quantization(compute_type) if primitives else compute_type


def weights_path(arch: Architecture, backend: str, compute_type: str, eot_eager: bool = False) -> Path:
    """Random weights of `arch` for `backend` at `compute_type`, generated once and cached."""
    from whisperbench.conversion import cache, write

    fmt = backends.spec(backend).weight_format
    q = storage_quantization(backend, compute_type)
    source = f"synthetic:{arch.name}-{arch.key()}{'-eot' if eot_eager else ''}"

    def build(out: Path) -> None:
        ckpt = random_checkpoint(arch, seed=int(arch.key()[:8], 16), eot_eager=eot_eager)
        write(ckpt, fmt, out, q, source=f"synthetic:{arch.name}")
        if fmt == "transformers" and not arch.standard_ffn:  # the writer assumes 4 x d_model
            cfg_path = out / "config.json"
            cfg = json.loads(cfg_path.read_text())
            cfg["encoder_ffn_dim"], cfg["decoder_ffn_dim"] = arch.audio_ffn, arch.text_ffn
            cfg_path.write_text(json.dumps(cfg, indent=2))

    return cache.converted(source, fmt, q, build)
