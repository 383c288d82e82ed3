"""Recognising a model's weight format from what is on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from whisperbench.errors import ModelError

FORMATS: tuple[str, ...] = ("transformers", "ctranslate2", "openai", "ggml")

GGML_MAGIC = 0x67676D6C  # "ggml" as a little-endian uint32


def read_json(path: Path, default: Any = None) -> Any:
    """A model's JSON object file (config, generation config, sidecar): `default` when
    absent, ModelError naming the file when it is not a valid JSON object."""
    if default is not None and not path.exists():
        return default
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is not valid JSON ({exc}); restore or re-create the model folder") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} is not a JSON object; restore or re-create the model folder")
    return data


def detect_format(path: str | Path) -> str:
    """Return one of FORMATS for a model folder or file, or raise ModelError saying why not."""
    p = Path(path)
    if not p.exists():
        raise ModelError(f"model path not found: {p}")
    if p.is_dir():
        if (p / "onnx" / "encoder_model.onnx").exists():  # Transformers.js layout (conversion/onnx_format.py)
            return "onnx"
        if (p / "model.bin").exists():
            return "ctranslate2"
        if (p / "config.json").exists() and (
            any(p.glob("*.safetensors")) or (p / "pytorch_model.bin").exists()
        ):
            return "transformers"
        if any(p.glob("*.safetensors")) or (p / "pytorch_model.bin").exists():
            raise ModelError(f"{p} has weights but no config.json: not a loadable transformers folder")
        raise ModelError(
            f"{p} is not a recognised model folder (expected a CTranslate2 folder with model.bin, "
            "or a transformers folder with config.json and *.safetensors)"
        )
    with open(p, "rb") as fh:
        head = fh.read(8)
    if len(head) >= 4 and int.from_bytes(head[:4], "little") == GGML_MAGIC:
        return "ggml"
    if head[:2] == b"PK" or p.suffix in (".pt", ".pth"):
        return "openai"
    raise ModelError(f"{p} is not a recognised model file (expected an openai-whisper .pt or a ggml .bin)")
