"""The weight-format registry: one `WeightFormat` record per format, and recognising a
model's format from what is on disk.

Everything that lists formats (conversion, the CLI's choices and help, the cache's output
names, the backends' `Capabilities.model_format`) reads `REGISTRY`. A format's reader,
writer, validator and builder are "module:function" strings imported only when used, so
importing this module imports no runtime. Adding a format is one module plus one entry
here (see CONTRIBUTING.md, "Adding a weight format").
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from whisperbench.errors import ConversionError, ModelError

GGML_MAGIC = 0x67676D6C  # "ggml" as a little-endian uint32


def _has_torch_weights(p: Path) -> bool:
    return any(p.glob("*.safetensors")) or (p / "pytorch_model.bin").exists()


def _file_head(p: Path) -> bytes:
    with open(p, "rb") as fh:
        return fh.read(8)


@dataclass(frozen=True)
class WeightFormat:
    """What whisperbench knows about one weight format.

    Entry points ("module:function", imported on first use):
      reader(path, progress) -> Checkpoint
      writer(checkpoint, target, quantization, progress) -> quantization written
      validator(path) -> None: raise ModelError on damaged files without reading the weights
      builder(source, output, quantization) -> Path: make this format from a local model in
        `built_from` (formats no Checkpoint is written to, e.g. ONNX graphs from an exporter)
    """

    name: str
    layout: Literal["folder", "file"]
    # The folder or file name a cached conversion is written as.
    output_name: str
    # What a model in this format holds (documentation and error messages).
    files: tuple[str, ...]
    # Precisions it can store; the first is the default where a writer must choose.
    quantizations: tuple[str, ...]
    # True when a local path (existing) is in this format; tried in registry order.
    detect: Callable[[Path], bool]
    description: str
    reader: str | None = None
    writer: str | None = None
    validator: str | None = None
    builder: str | None = None
    built_from: str | None = None

    @property
    def is_folder(self) -> bool:
        return self.layout == "folder"

    @property
    def round_trips(self) -> bool:
        """A Checkpoint can be written to and read back from this format."""
        return self.reader is not None and self.writer is not None

    def entry(self, kind: Literal["reader", "writer", "validator", "builder"]) -> Callable[..., Any]:
        target = getattr(self, kind)
        if target is None:
            raise ConversionError(f"the {self.name} format has no {kind}")
        module, _, func = target.partition(":")
        return getattr(importlib.import_module(module), func)


_REGISTRY: dict[str, WeightFormat] = {}


def register(fmt: WeightFormat) -> None:
    """Add a format (its detection rule is tried after those registered before it)."""
    if fmt.built_from is not None and fmt.builder is None:
        raise ValueError(f"format {fmt.name!r}: built_from needs a builder")
    if fmt.layout not in ("folder", "file"):
        raise ValueError(f"format {fmt.name!r}: layout is 'folder' or 'file', not {fmt.layout!r}")
    _REGISTRY[fmt.name] = fmt


def get(name: str) -> WeightFormat:
    if name not in _REGISTRY:
        raise ConversionError(f"unknown format {name!r}; formats: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def all_formats() -> tuple[WeightFormat, ...]:
    return tuple(_REGISTRY.values())


def __getattr__(name: str) -> Any:
    # FORMATS (every format's name) and QUANTIZATIONS (format -> its quantizations), always current.
    if name == "FORMATS":
        return names()
    if name == "QUANTIZATIONS":
        return {f.name: f.quantizations for f in _REGISTRY.values()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_M = "whisperbench.conversion."

# Rules are tried in this order: an ONNX export also holds config.json, and openai's rule
# takes any .pt name, so the more specific rules come first.
register(WeightFormat(
    "onnx", "folder", "model",
    ("onnx/encoder_model.onnx", "onnx/decoder_model_merged.onnx", "config.json", "tokenizer.json"),
    ("float32", "int8"),
    lambda p: p.is_dir() and (p / "onnx" / "encoder_model.onnx").exists(),
    "ONNX graphs in the Transformers.js layout (float32, plus int8 graphs when asked)",
    builder=_M + "onnx_format:build", built_from="transformers",
))
register(WeightFormat(
    "ctranslate2", "folder", "model", ("model.bin", "config.json", "tokenizer.json", "vocabulary.*"),
    ("float32", "float16", "bfloat16", "int8", "int8_float32", "int8_float16", "int8_bfloat16"),
    lambda p: p.is_dir() and (p / "model.bin").exists(),
    "CTranslate2 model folder (faster-whisper)",
    reader=_M + "ctranslate2_format:read", writer=_M + "ctranslate2_format:write",
))
register(WeightFormat(
    "transformers", "folder", "model", ("config.json", "*.safetensors", "generation_config.json", "tokenizer.json"),
    ("float32", "float16", "bfloat16"),
    lambda p: p.is_dir() and (p / "config.json").exists() and _has_torch_weights(p),
    "Hugging Face transformers folder (safetensors)",
    reader=_M + "transformers_format:read", writer=_M + "transformers_format:write",
    validator=_M + "transformers_format:validate",
))
register(WeightFormat(
    "ggml", "file", "ggml-model.bin", ("ggml-*.bin",),
    ("float16", "q8_0", "q5_0", "q5_1", "q4_0"),
    lambda p: p.is_file() and len(h := _file_head(p)) >= 4 and int.from_bytes(h[:4], "little") == GGML_MAGIC,
    "whisper.cpp ggml file",
    reader=_M + "ggml_format:read", writer=_M + "ggml_format:write", validator=_M + "ggml_format:validate",
))
register(WeightFormat(
    "openai", "file", "model.pt", ("*.pt",),
    ("float32", "float16"),
    lambda p: p.is_file() and (_file_head(p)[:2] == b"PK" or p.suffix in (".pt", ".pth")),
    "openai-whisper checkpoint (.pt)",
    reader=_M + "openai_format:read", writer=_M + "openai_format:write",
))


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
    for fmt in _REGISTRY.values():
        if fmt.detect(p):
            return fmt.name
    kind = "folder" if p.is_dir() else "file"
    if p.is_dir() and _has_torch_weights(p):
        raise ModelError(f"{p} has weights but no config.json: not a loadable transformers folder")
    expected = "; ".join(f"{f.name}: {' '.join(f.files)}" for f in _REGISTRY.values() if f.is_folder == p.is_dir())
    raise ModelError(f"{p} is not a recognised model {kind} (expected {expected})")
