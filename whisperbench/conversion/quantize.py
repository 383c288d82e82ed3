"""ggml block quantization (q8_0, q5_0, q5_1, q4_0), vectorized with numpy.

Both formats cut each row into blocks of 32 values that share one float16 scale `d`:
- q8_0 (34 bytes/block): d = max|x| / 127, then 32 signed bytes round(x / d).
- q4_0 (18 bytes/block): as q5_0 with four-bit codes: d = m / -8, trunc(x / d + 8.5) <= 15.
- q5_1 (24 bytes/block): scale and minimum: d = (max - min) / 31, codes trunc((x - min) / d + 0.5).
- q5_0 (22 bytes/block): d = m / -16 where m is the value of largest magnitude (sign
  kept), then 32 five-bit codes trunc(x / d + 16.5) clamped to 31; the low four bits are
  packed two per byte (element j and j+16 share byte j) and the fifth bits gathered in a
  32-bit mask that follows the scale. Rounding matches ggml's reference quantizer.
"""

from __future__ import annotations

import numpy as np

from whisperbench.errors import ConversionError

BLOCK = 32
BLOCK_BYTES = {"q8_0": 2 + BLOCK, "q5_0": 2 + 4 + BLOCK // 2, "q5_1": 4 + 4 + BLOCK // 2, "q4_0": 2 + BLOCK // 2}


def _blocks(x: np.ndarray) -> np.ndarray:
    if x.shape[-1] % BLOCK:
        raise ConversionError(f"cannot block-quantize rows of {x.shape[-1]} values (needs a multiple of {BLOCK})")
    return np.asarray(x, dtype=np.float32).reshape(-1, BLOCK)


def _round_half_away(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.floor(np.abs(v) + 0.5)  # C roundf, not numpy's banker's rounding


def quantize_q8_0(x: np.ndarray) -> bytes:
    b = _blocks(x)
    d = np.abs(b).max(axis=1) / 127.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
    q = _round_half_away(b * inv[:, None]).astype(np.int8)
    out = np.empty((b.shape[0], BLOCK_BYTES["q8_0"]), dtype=np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def quantize_q5_0(x: np.ndarray) -> bytes:
    b = _blocks(x)
    idx = np.abs(b).argmax(axis=1)
    m = b[np.arange(b.shape[0]), idx]
    d = m / -16.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    xi = np.minimum(31, np.trunc(b * inv[:, None] + 16.5)).astype(np.uint32)
    lo, hi = xi[:, :16], xi[:, 16:]
    qs = ((lo & 0x0F) | ((hi & 0x0F) << 4)).astype(np.uint8)
    bits = ((xi >> 4) & 1) << np.arange(BLOCK, dtype=np.uint32)
    qh = bits.sum(axis=1, dtype=np.uint64).astype("<u4")
    out = np.empty((b.shape[0], BLOCK_BYTES["q5_0"]), dtype=np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:6] = qh.view(np.uint8).reshape(-1, 4)
    out[:, 6:] = qs
    return out.tobytes()


def _pack_nibbles(xi: np.ndarray) -> np.ndarray:
    lo, hi = xi[:, :16], xi[:, 16:]
    return ((lo & 0x0F) | ((hi & 0x0F) << 4)).astype(np.uint8)


def _fifth_bits(xi: np.ndarray) -> np.ndarray:
    bits = ((xi >> 4) & 1) << np.arange(BLOCK, dtype=np.uint32)
    return bits.sum(axis=1, dtype=np.uint64).astype("<u4").view(np.uint8).reshape(-1, 4)


def _f16_bytes(v: np.ndarray) -> np.ndarray:
    return v.astype("<f2").view(np.uint8).reshape(-1, 2)


def quantize_q4_0(x: np.ndarray) -> bytes:
    b = _blocks(x)
    m = b[np.arange(b.shape[0]), np.abs(b).argmax(axis=1)]
    d = m / -8.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    xi = np.minimum(15, np.trunc(b * inv[:, None] + 8.5)).astype(np.uint32)
    return np.concatenate([_f16_bytes(d), _pack_nibbles(xi)], axis=1).tobytes()


def quantize_q5_1(x: np.ndarray) -> bytes:
    b = _blocks(x)
    lo, hi = b.min(axis=1), b.max(axis=1)
    d = (hi - lo) / 31.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    xi = np.trunc((b - lo[:, None]) * inv[:, None] + 0.5).astype(np.uint32)
    return np.concatenate([_f16_bytes(d), _f16_bytes(lo), _fifth_bits(xi), _pack_nibbles(xi)], axis=1).tobytes()


def dequantize(kind: str, raw: np.ndarray | bytes, count: int) -> np.ndarray:
    """Flat float32 values from `count` quantized values of type `kind`."""
    n_blocks = count // BLOCK
    blk = np.frombuffer(raw, dtype=np.uint8, count=n_blocks * BLOCK_BYTES[kind]).reshape(n_blocks, -1)
    d = blk[:, :2].copy().view("<f2").astype(np.float32)
    if kind == "q8_0":
        q = blk[:, 2:].view(np.int8).astype(np.float32)
        return (q * d).reshape(-1)
    if kind == "q4_0":
        qs = blk[:, 2:].astype(np.uint32)
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
        return (q * d).reshape(-1)
    start = 4 if kind == "q5_1" else 2
    qh = blk[:, start: start + 4].copy().view("<u4").astype(np.uint32)
    qs = blk[:, start + 4:].astype(np.uint32)
    j = np.arange(16, dtype=np.uint32)
    lo = (qs & 0x0F) | (((qh >> j) & 1) << 4)
    hi = (qs >> 4) | (((qh >> (j + 16)) & 1) << 4)
    q = np.concatenate([lo, hi], axis=1).astype(np.float32)
    if kind == "q5_1":
        return (q * d + blk[:, 2:4].copy().view("<f2").astype(np.float32)).reshape(-1)
    return ((q - 16.0) * d).reshape(-1)


QUANTIZERS = {"q8_0": quantize_q8_0, "q5_0": quantize_q5_0, "q5_1": quantize_q5_1, "q4_0": quantize_q4_0}
