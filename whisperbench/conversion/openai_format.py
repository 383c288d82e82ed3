"""openai-whisper checkpoints: a torch pickle `{"dims": ..., "model_state_dict": ...}`.

`whisper.load_model(path)` reads only those two keys; we add a `"whisperbench"` entry with
the facts the format has no place for (tokenizer aside): quantization, alignment heads,
suppress lists, distilled. It is ignored by openai-whisper.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np

from whisperbench.conversion import formats
from whisperbench.conversion.checkpoint import Checkpoint, Dims, expected_shapes
from whisperbench.conversion.progress import NO_PROGRESS, Progress
from whisperbench.errors import ConversionError, ModelError

QUANTIZATIONS = formats.get("openai").quantizations


def _torch():
    try:
        import torch
    except ImportError:
        raise ConversionError("the openai-whisper format needs torch; install it with: pip install 'whisperbench[openai]'") from None
    return torch


def write(ckpt: Checkpoint, out_file: Path, quantization: str | None, progress: Progress = NO_PROGRESS) -> str:
    torch = _torch()
    q = quantization or ("float32" if ckpt.source_quantization == "float32" else "float16")
    if q not in QUANTIZATIONS:
        raise ConversionError(f"openai-whisper checkpoints store float16 or float32, not {q!r}")
    dtype = np.float16 if q == "float16" else np.float32
    state = {}
    with progress.bar(len(ckpt.weights), "writing openai") as bar:
        for name, w in ckpt.iter_weights():
            # torch.from_numpy needs a writable array; this is the one copy per tensor.
            state[name] = torch.from_numpy(np.array(w, dtype=dtype))
            bar.update(1)
    meta = {
        "quantization": q,
        "alignment_heads": [list(h) for h in ckpt.alignment_heads] if ckpt.alignment_heads else None,
        "suppress_tokens": list(ckpt.suppress_tokens),
        "begin_suppress_tokens": list(ckpt.begin_suppress_tokens),
        "distilled": ckpt.distilled,
    }
    torch.save({"dims": ckpt.dims.to_dict(), "model_state_dict": state, "whisperbench": meta}, out_file)
    return q


def read(path: Path, progress: Progress = NO_PROGRESS) -> Checkpoint:
    torch = _torch()
    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, OSError, zipfile.BadZipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path} is not a readable openai-whisper checkpoint: {first}") from None
    if not isinstance(data, dict) or "dims" not in data or "model_state_dict" not in data:
        raise ModelError(f"{path} is not an openai-whisper checkpoint (expected a dict with 'dims' and 'model_state_dict')")
    try:
        dims = Dims(**{k: int(v) for k, v in dict(data["dims"]).items()})
    except TypeError as exc:
        raise ModelError(f"{path} has malformed 'dims': {exc}") from None
    state = data["model_state_dict"]
    weights: dict[str, np.ndarray] = {}
    names = list(expected_shapes(dims))
    with progress.bar(len(names), "reading openai") as bar:
        for name in names:
            if name not in state:
                raise ModelError(f"{path} lacks the tensor {name}")
            t = state[name]
            weights[name] = t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()
            bar.update(1)
    meta = data.get("whisperbench") or {}
    first = weights["decoder.blocks.0.mlp.0.weight"]
    ckpt = Checkpoint(
        dims=dims,
        weights=weights,
        tokenizer_json=None,
        suppress_tokens=list(meta.get("suppress_tokens") or []),
        begin_suppress_tokens=list(meta.get("begin_suppress_tokens") or []),
        alignment_heads=[tuple(h) for h in meta["alignment_heads"]] if meta.get("alignment_heads") else None,
        distilled=bool(meta.get("distilled", False)),
        source_quantization=meta.get("quantization") or str(first.dtype),
        source_format="openai",
    )
    ckpt.check()
    return ckpt


def read_meta(path: Path) -> dict:
    """Only the small header facts (no weights kept): dims and our metadata."""
    ckpt = read(path)
    return {"dims": ckpt.dims.to_dict(), "quantization": ckpt.source_quantization, "distilled": ckpt.distilled}
