"""Loading openai-whisper, shared by the adapter and the synthetic primitives."""

from __future__ import annotations

from whisperbench.errors import ModelError


def load_model(name: str, device: str, spec: str):
    """`whisper.load_model` on a local checkpoint or a model name; `spec` names the model in
    errors. Weights stay float32: with fp16=True openai-whisper casts them to half on the fly
    in every Linear/Conv call (its layers follow the input's dtype)."""
    import whisper

    try:
        return whisper.load_model(name, device=device)
    except (RuntimeError, OSError, KeyError, ValueError) as exc:
        raise ModelError(f"cannot load openai-whisper model {spec!r}: {type(exc).__name__}: {exc}") from None
