"""Weight formats: the registry (formats.py), detection, readers and writers, quantization,
the cache of converted weights (cache.py).

    convert(src, to, output, quantization=None, decoder_layers=None, force=False) -> Path
    ensure_format(model_spec, fmt, quantization=None) -> Path   (cached conversion)
    check(path) -> str                                          (files sound before a runtime loads them)
    describe(path) -> dict                                      (format, quantization, dims, ...)
    read(src) -> Checkpoint;  write(ckpt, fmt, output, ...) -> Path
    tiny_random(...) -> Checkpoint;  derive_student(ckpt, decoder_layers) -> Checkpoint

Runtime libraries (torch, ctranslate2, ...) are imported only by the format that needs them.
This package imports nothing from backends/bench/cli; verifying a conversion by decoding
in two runtimes needs backends, so it lives above them (whisperbench.bench.verify).
"""

from typing import Any

from whisperbench.conversion import formats
from whisperbench.conversion.api import (
    check,
    convert,
    derive_student,
    describe,
    ensure_format,
    read,
    read_metadata,
    save_random,
    tiny_random,
    write,
)
from whisperbench.conversion.checkpoint import CONVERTER_VERSION, Checkpoint, Dims
from whisperbench.conversion.formats import WeightFormat, detect_format

__all__ = [
    "CONVERTER_VERSION", "Checkpoint", "Dims", "FORMATS", "QUANTIZATIONS", "WeightFormat", "check", "convert",
    "derive_student", "describe", "detect_format", "ensure_format", "read", "read_metadata", "save_random",
    "tiny_random", "write",
]


def __getattr__(name: str) -> Any:  # FORMATS, QUANTIZATIONS: read from the registry when asked
    if name in ("FORMATS", "QUANTIZATIONS"):
        return getattr(formats, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
