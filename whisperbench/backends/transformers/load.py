"""Loading Transformers' Whisper, shared by the adapter and the synthetic primitives: the
attention implementation, torch.compile (with its mode) and `from_pretrained` with its
errors in one line."""

from __future__ import annotations

import importlib.util
from typing import Any, Mapping

from whisperbench.errors import ModelError, UnsupportedOptionError

ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2")
# LoadOptions.extra keys both the adapter and synthetic timing understand.
OPTION_HELP = {
    "attn_implementation": "eager, sdpa (default) or flash_attention_2 (CUDA, fp16/bf16, needs flash-attn)",
    "torch_compile": "true: torch.compile the model's forward (static KV cache)",
    "compile_mode": "torch.compile's mode (default, reduce-overhead, max-autotune, ...), with torch_compile=true",
}


def flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def attention(extra: Mapping[str, Any], kind: str, compute_type: str) -> str:
    """The attention implementation asked for, checked against the device and dtype."""
    attn = str(extra.get("attn_implementation", "sdpa"))
    if attn not in ATTN_IMPLEMENTATIONS:
        raise UnsupportedOptionError(f"attn_implementation={attn!r}: choose one of {', '.join(ATTN_IMPLEMENTATIONS)}")
    if attn == "flash_attention_2":
        if kind != "cuda":
            raise UnsupportedOptionError("attn_implementation='flash_attention_2' needs a CUDA device")
        if compute_type not in ("float16", "bfloat16"):
            raise UnsupportedOptionError(
                f"attn_implementation='flash_attention_2' needs compute type float16 or bfloat16, not {compute_type!r}"
            )
        if importlib.util.find_spec("flash_attn") is None:
            raise UnsupportedOptionError(
                "attn_implementation='flash_attention_2' needs the flash-attn package, which is not installed "
                "(pip install flash-attn --no-build-isolation)"
            )
    return attn


def compile_settings(extra: Mapping[str, Any]) -> tuple[bool, str | None]:
    """(torch_compile, compile_mode) from the load options."""
    compile_ = flag(extra.get("torch_compile", False))
    mode = extra.get("compile_mode")
    if mode is not None and not compile_:
        raise UnsupportedOptionError("compile_mode applies with torch_compile=true only")
    return compile_, None if mode is None else str(mode)


def compile_forward(model, mode: str | None) -> None:
    """torch.compile the model's forward, with a static KV cache so the compiled decoder
    step sees fixed shapes."""
    import torch

    model.generation_config.cache_implementation = "static"
    model.forward = torch.compile(model.forward, mode=mode)


def from_pretrained(where: str, local: bool, spec: str, attn: str, causal_lm: bool = False, **kwargs):
    """`WhisperForConditionalGeneration` (or the decoder-only `WhisperForCausalLM`) from
    `where`; `spec` names the model in errors."""
    from transformers import WhisperForCausalLM, WhisperForConditionalGeneration

    cls = WhisperForCausalLM if causal_lm else WhisperForConditionalGeneration
    try:
        return cls.from_pretrained(where, local_files_only=local, attn_implementation=attn, **kwargs)
    except ImportError as exc:  # e.g. flash-attn / bitsandbytes present but unusable
        raise UnsupportedOptionError(f"cannot load {spec!r} with these options: {exc}") from None
    except (OSError, ValueError, RuntimeError) as exc:
        if "attn" in str(exc).lower() and attn != "sdpa":
            raise UnsupportedOptionError(f"attn_implementation={attn!r} is not available: {exc}") from None
        raise ModelError(f"cannot load transformers model {spec!r}: {type(exc).__name__}: {exc}") from None
