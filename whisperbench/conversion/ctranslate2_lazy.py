"""Lazy CTranslate2 spec variables: each tensor is converted, or int8-quantized, only when
ctranslate2's own serializer (`ModelSpec.save`) asks for its bytes, so writing a model.bin
never holds more than the source (usually memory-mapped) plus one output tensor.

The int8 scheme is CTranslate2's own (ctranslate2 4.x `specs/model_spec.py`,
`LayerSpec._quantize`), reproduced bit for bit and checked against it in the tests: per
output row (convolution kernels flattened to [out, in * k]),
    amax = max|row| (127 where the row is all zero, floored at 127 / float32 max)
    scale = 127 / amax                        stored as float32 `<name>_scale`
    int8 = rint(row * scale), computed in float32.
Imported only when writing CTranslate2 (needs the ctranslate2 package).
"""

from __future__ import annotations

import numpy as np
from ctranslate2.specs.model_spec import Variable

from whisperbench.conversion.safetensors_io import to_bfloat16_bits

SLAB_VALUES = 1 << 20  # float32 temporaries stay near 4 MiB whatever the tensor's size


def target_dtype(q: str, quantizable: bool, parts: list[np.ndarray]) -> str:
    """The type ctranslate2's quantizer gives a variable for quantization `q`."""
    if quantizable and q.startswith("int8"):
        return "int8"
    if q in ("float16", "int8_float16"):
        return "float16"
    if q in ("bfloat16", "int8_bfloat16"):
        return "bfloat16"
    if q in ("float32", "int8_float32"):
        return "float32"
    # plain "int8" leaves the other variables in their source type (float64 -> float32)
    return "float16" if all(p.dtype == np.float16 for p in parts) else "float32"


def quantize_int8_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 rows, float32 scales) of a 2-D block of rows, as ctranslate2 computes them."""
    v = np.array(rows, dtype=np.float32)  # always a copy (scaled in place below); float16 upcast per slab
    amax = np.amax(np.absolute(v), axis=1)
    amax[amax == 0] = 127.0
    amax = np.maximum(amax, np.float32(127) / np.finfo(np.float32).max)
    scale = (np.float32(127.0) / amax).astype(np.float32)
    v *= np.expand_dims(scale, 1)
    return np.rint(v).astype(np.int8), scale


class WriteContext:
    """Shared by a spec's lazy variables: the progress bar advanced per tensor written."""

    bar = None


class LazyVariable(Variable):
    """The row-wise concatenation of `parts` (rows = first axis; fused projections have
    several parts) converted to `dtype` ("float32", "float16", "bfloat16" or "int8")."""

    def __init__(self, parts: list[np.ndarray], dtype: str, ctx: WriteContext) -> None:
        if dtype not in ("float32", "float16", "bfloat16", "int8"):
            raise ValueError(f"unsupported CTranslate2 variable type {dtype}")
        self.parts = parts
        self._dtype = dtype
        self.ctx = ctx
        self._shape = (sum(int(p.shape[0]) for p in parts), *parts[0].shape[1:])
        self._scale: np.ndarray | None = None

    @property
    def shape(self):
        return self._shape

    @property
    def dtype(self) -> str:
        return self._dtype

    def num_bytes(self) -> int:
        return int(np.prod(self._shape)) * {"int8": 1, "float32": 4}.get(self._dtype, 2)

    def _slabs(self):
        for p in self.parts:
            rows = p.reshape(p.shape[0], -1) if p.ndim > 1 else p.reshape(1, -1)
            step = max(1, SLAB_VALUES // max(1, rows.shape[1]))
            for start in range(0, rows.shape[0], step):
                yield rows[start: start + step]

    def to_bytes(self) -> memoryview:
        # One preallocated output buffer, filled slab by slab and handed to the serializer's
        # file.write as is (a bytes copy of it would double the largest tensor's footprint).
        out = np.empty(self.num_bytes(), dtype=np.uint8)
        pos = 0
        scales = []
        for slab in self._slabs():
            if self._dtype == "int8":
                values, scale = quantize_int8_rows(slab)
                scales.append(scale)
            elif self._dtype == "bfloat16":
                values = to_bfloat16_bits(slab).astype("<u2", copy=False)
            else:
                values = np.ascontiguousarray(slab, dtype=np.dtype(self._dtype).newbyteorder("<"))
            raw = values.reshape(-1).view(np.uint8)
            out[pos: pos + raw.size] = raw
            pos += raw.size
        assert pos == out.size, (pos, out.size)
        if scales:
            self._scale = np.concatenate(scales)
        if self.ctx.bar is not None:
            self.ctx.bar.update(1)
        return memoryview(out)

    def scale(self) -> np.ndarray:
        if self._scale is None:  # normally computed while the weight is written (sorted first)
            self._scale = np.concatenate([quantize_int8_rows(s)[1] for s in self._slabs()])
        return self._scale

    def numpy(self) -> np.ndarray:
        raw = np.frombuffer(self.to_bytes(), dtype="<u2" if self._dtype == "bfloat16" else self._dtype)
        return raw.reshape(self._shape)

    def materialize_source(self) -> np.ndarray:
        """One writable array in the source's quantization (for ctranslate2's own quantizer)."""
        dtype = np.result_type(*self.parts)
        if dtype == np.float64:
            dtype = np.dtype(np.float32)
        return np.concatenate([np.array(p, dtype=dtype) for p in self.parts])

    def _to(self, dtype: str) -> "LazyVariable":
        return LazyVariable(self.parts, dtype, self.ctx)

    def _equal(self, other) -> bool:
        # Only the tied projection repeats a variable, and it is the very same object;
        # comparing values would read every pair of tensors.
        return self is other


class LazyScale(Variable):
    """The float32 `<name>_scale` of an int8 LazyVariable."""

    def __init__(self, weight: LazyVariable) -> None:
        self.weight = weight

    @property
    def shape(self):
        return (self.weight.shape[0],)

    @property
    def dtype(self) -> str:
        return "float32"

    def num_bytes(self) -> int:
        return 4 * self.weight.shape[0]

    def to_bytes(self) -> bytes:
        return self.weight.scale().astype("<f4", copy=False).tobytes()

    def numpy(self) -> np.ndarray:
        return self.weight.scale()

    def _to(self, dtype: str) -> "LazyScale":
        raise ValueError("int8 scales stay float32")

    def _equal(self, other) -> bool:
        return self is other
