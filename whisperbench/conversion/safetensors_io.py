"""Minimal safetensors reading and writing: the format is an 8-byte header length, a JSON
header, then raw little-endian tensors. Written tensor by tensor (streaming); read by
memory-mapping, so neither direction holds the whole model twice."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from whisperbench.errors import ModelError

_TO_NP = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I8": np.int8, "I32": np.int32, "I64": np.int64, "U8": np.uint8}
_FROM_NP = {np.dtype(v): k for k, v in _TO_NP.items()}


def to_bfloat16_bits(x: np.ndarray) -> np.ndarray:
    """float -> bfloat16 bit patterns (uint16), rounding to nearest even like torch."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + 0x7FFF
    out = ((bits + rounding) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        out[nan] = 0x7FC0
    return out


def write(path: Path, tensors: Iterable[tuple[str, np.ndarray]], dtype: str, metadata: dict[str, str] | None = None,
          on_tensor: Callable[[], None] | None = None) -> None:
    """Write `tensors` (name, array) converted to `dtype` ("F32", "F16" or "BF16");
    `on_tensor()` is called after each tensor is written (progress)."""
    items = list(tensors)
    header: dict = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    for name, arr in items:
        nbytes = int(np.prod(arr.shape)) * (4 if dtype == "F32" else 2)
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # keep tensor data 8-byte aligned
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(blob)))
        fh.write(blob)
        for _, arr in items:
            flat = arr.reshape(-1)
            for start in range(0, flat.shape[0], 1 << 20):  # bounded temporaries per tensor
                part = flat[start: start + (1 << 20)]
                if dtype == "BF16":
                    data = to_bfloat16_bits(part)
                else:
                    data = np.ascontiguousarray(part, dtype=np.float32 if dtype == "F32" else np.float16)
                fh.write(data.astype(data.dtype.newbyteorder("<"), copy=False).tobytes())
            if on_tensor is not None:
                on_tensor()


def read(path: Path, on_tensor: Callable[[], None] | None = None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Memory-map a safetensors file: (name -> array as float32/float16, metadata)."""
    if Path(path).stat().st_size < 8:  # (numpy cannot memory-map an empty file)
        raise ModelError(f"{path} is truncated: not a safetensors file")
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    (n,) = struct.unpack("<Q", bytes(buf[:8]))
    if 8 + n > len(buf):
        raise ModelError(f"{path} is truncated or not a safetensors file")
    try:
        header = json.loads(bytes(buf[8: 8 + n]))
    except ValueError:
        raise ModelError(f"{path} has a corrupt safetensors header") from None
    meta = header.pop("__metadata__", {}) or {}
    out: dict[str, np.ndarray] = {}
    base = 8 + n
    for name, info in header.items():
        start, end = info["data_offsets"]
        if base + end > len(buf):
            raise ModelError(f"{path} is truncated (tensor {name} runs past the end of the file)")
        raw = buf[base + start: base + end]
        if info["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] in _TO_NP:
            arr = np.frombuffer(raw, dtype=np.dtype(_TO_NP[info["dtype"]]).newbyteorder("<"))
        else:
            raise ModelError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        out[name] = arr.reshape(info["shape"])
        if on_tensor is not None:
            on_tensor()
    return out, meta
