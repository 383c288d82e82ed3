"""whisper.cpp's ggml model file (the legacy, non-GGUF layout whisper.cpp still loads).

Layout, all little-endian:
  uint32 magic "ggml"
  int32 x 11: n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
              n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype
              (ftype + 1000 * quantization-version for block-quantized files)
  int32 n_mels, int32 n_freq, float32[n_mels * n_freq]   mel filterbank
  int32 n_tokens, then per token: int32 length, raw bytes  (ordinary tokens only)
  per tensor: int32 n_dims, int32 name length, int32 type, int32 ne[n_dims]
              (fastest-varying dimension first), name, data
whisper.cpp decides each tensor's type itself and rejects a file that disagrees:
matrices use the file's type, convolution kernels float16, everything else float32.
Facts the file cannot hold (quantization label, alignment heads, suppress lists, distilled)
go to a sidecar `<file>.whisperbench.json`.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

from whisperbench.conversion import tokenizer as tok
from whisperbench.conversion.checkpoint import Checkpoint, Dims, expected_shapes
from whisperbench.conversion import formats
from whisperbench.conversion.formats import read_json
from whisperbench.conversion.progress import NO_PROGRESS, Progress
from whisperbench.conversion.quantize import BLOCK, BLOCK_BYTES, QUANTIZERS, dequantize
from whisperbench.errors import ConversionError, ModelError

MAGIC = 0x67676D6C
QUANTIZATIONS = formats.get("ggml").quantizations
_FTYPE = {"float32": 0, "float16": 1, "q4_0": 2, "q8_0": 7, "q5_0": 8, "q5_1": 9}
_TYPE_ID = {"float32": 0, "float16": 1, "q4_0": 2, "q5_0": 6, "q5_1": 7, "q8_0": 8}
_TYPE_NAME = {v: k for k, v in _TYPE_ID.items()}
QNT_VERSION, QNT_FACTOR = 2, 1000
N_FFT, SAMPLE_RATE = 400, 16000
_CHUNK_VALUES = 1 << 20
_I32 = struct.Struct("<i")


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".whisperbench.json")


def mel_filters(n_mels: int) -> np.ndarray:
    """Slaney-style mel filterbank (librosa's default, which Whisper uses), float32 [n_mels, 201]."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2: n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def _tensor_type(name: str, ndim: int, q: str) -> str:
    if ndim == 3:  # convolution kernels
        return "float16"
    if ndim == 2 and not name.endswith(("positional_embedding", "conv1.bias", "conv2.bias")):
        return q
    return "float32"


def write(ckpt: Checkpoint, out_file: Path, quantization: str | None, progress: Progress = NO_PROGRESS) -> str:
    q = quantization or (ckpt.source_quantization if ckpt.source_quantization in QUANTIZATIONS else "float16")
    if q == "float32":
        raise ConversionError("whisper.cpp cannot load float32 ggml files written this way; use float16, q8_0 or q5_0")
    if q not in QUANTIZATIONS:
        raise ConversionError(f"ggml output supports {', '.join(QUANTIZATIONS)}, not {q!r}")
    d = ckpt.dims
    tokenizer_json = tok.tokenizer_for(d, ckpt.tokenizer_json)
    ftype = _FTYPE[q] + (QNT_VERSION * QNT_FACTOR if q.startswith("q") else 0)
    with open(out_file, "wb") as fh:
        fh.write(struct.pack("<I", MAGIC))
        fh.write(struct.pack(
            "<11i", d.n_vocab, d.n_audio_ctx, d.n_audio_state, d.n_audio_head, d.n_audio_layer,
            d.n_text_ctx, d.n_text_state, d.n_text_head, d.n_text_layer, d.n_mels, ftype,
        ))
        filters = mel_filters(d.n_mels)
        fh.write(struct.pack("<ii", *filters.shape))
        fh.write(filters.astype("<f4").tobytes())
        tokens = tok.regular_token_bytes(d, tokenizer_json)
        fh.write(struct.pack("<i", len(tokens)))
        for t in tokens:
            fh.write(struct.pack("<i", len(t)))
            fh.write(t)
        with progress.bar(len(ckpt.weights), f"writing ggml {q}") as bar:
            for name, w in ckpt.iter_weights():
                _write_tensor(fh, name, np.asarray(w), q)
                bar.update(1)
    meta = {
        "format": "ggml",
        "quantization": q,
        "alignment_heads": [list(h) for h in ckpt.alignment_heads] if ckpt.alignment_heads else None,
        "suppress_tokens": list(ckpt.suppress_tokens),
        "begin_suppress_tokens": list(ckpt.begin_suppress_tokens),
        "distilled": ckpt.distilled,
    }
    sidecar(out_file).write_text(json.dumps(meta, indent=2))
    return q


def _write_tensor(fh: BinaryIO, name: str, w: np.ndarray, q: str) -> None:
    if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
        w = w.reshape(w.shape[0], 1)
    kind = _tensor_type(name, w.ndim, q)
    raw_name = name.encode()
    fh.write(struct.pack("<iii", w.ndim, len(raw_name), _TYPE_ID[kind]))
    fh.write(struct.pack(f"<{w.ndim}i", *reversed(w.shape)))
    fh.write(raw_name)
    # Convert a slab of rows at a time so temporaries stay small (the token embedding alone
    # is tens of millions of values).
    flat = w.reshape(-1, w.shape[-1]) if w.ndim > 1 else w.reshape(1, -1)
    step = max(1, _CHUNK_VALUES // flat.shape[1])
    for start in range(0, flat.shape[0], step):
        rows = flat[start: start + step]
        if kind in QUANTIZERS:
            fh.write(QUANTIZERS[kind](rows))
        else:
            fh.write(np.ascontiguousarray(rows, dtype="<f2" if kind == "float16" else "<f4").tobytes())


class _Cursor:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.buf = np.memmap(path, dtype=np.uint8, mode="r")
        self.pos = 0

    def take(self, n: int) -> np.ndarray:
        start = self.pos
        self.skip(n)
        return self.buf[start: self.pos]

    def skip_vocabulary(self, n_tokens: int) -> None:
        """Skip n length-prefixed token strings (a tight loop: large vocabularies)."""
        pos, size, unpack = self.pos, len(self.buf), _I32.unpack_from
        view = memoryview(self.buf)
        for _ in range(n_tokens):
            if pos + 4 > size:
                break
            (length,) = unpack(view, pos)
            if length < 0:
                raise ModelError(f"{self.path} is corrupt near byte {pos}")
            pos += 4 + length
        else:
            if pos <= size:
                self.pos = pos
                return
        raise ModelError(f"{self.path} is truncated or corrupt (cut inside the vocabulary, file has {size} bytes)")

    def ints(self, n: int) -> tuple[int, ...]:
        start = self.pos
        self.skip(4 * n)
        return struct.unpack_from(f"<{n}i", self.buf, start)

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.buf):
            raise ModelError(f"{self.path} is truncated or corrupt (needs {self.pos + n} bytes, has {len(self.buf)})")
        self.pos += n


# Sanity bounds on header values, far beyond any Whisper (large-v3: 32 layers, 1280 wide,
# 51866 tokens), so a corrupt header fails here instead of inside whisper.cpp.
_LIMITS = {"n_vocab": 1 << 20, "n_audio_ctx": 1 << 16, "n_audio_state": 1 << 14, "n_audio_head": 1 << 10,
           "n_audio_layer": 1 << 10, "n_text_ctx": 1 << 16, "n_text_state": 1 << 14, "n_text_head": 1 << 10,
           "n_text_layer": 1 << 10, "n_mels": 1 << 10}


def _read_header(c: _Cursor) -> tuple[Dims, int]:
    """Magic, hyperparameters, mel filters and vocabulary: (dims, ftype). Raises ModelError
    on a file that is not ggml, a header out of bounds, or a cut-off file."""
    path = c.path
    (magic,) = struct.unpack("<I", bytes(c.take(4)))
    if magic != MAGIC:
        raise ModelError(f"{path} is not a ggml file (bad magic {magic:#x})")
    h = c.ints(11)
    fields = dict(zip(_LIMITS, h[:10]))
    for name, value in fields.items():
        if not 0 < value <= _LIMITS[name]:
            raise ModelError(f"{path} is corrupt: header {name}={value} (expected 1..{_LIMITS[name]})")
    d = Dims(**fields)
    if d.n_audio_state % d.n_audio_head or d.n_text_state % d.n_text_head:
        raise ModelError(f"{path} is corrupt: the model width is not a multiple of the head count")
    n_mel, n_freq = c.ints(2)
    if n_mel != d.n_mels or not 0 < n_freq <= 1 << 12:
        raise ModelError(f"{path} is corrupt: mel filters {n_mel}x{n_freq} for {d.n_mels} mels")
    c.skip(4 * n_mel * n_freq)
    (n_tokens,) = c.ints(1)
    if not 0 <= n_tokens <= d.n_vocab:
        raise ModelError(f"{path} is corrupt: {n_tokens} tokens for a vocabulary of {d.n_vocab}")
    c.skip_vocabulary(n_tokens)
    return d, h[10] % QNT_FACTOR


def validate(path: Path) -> Dims:
    """Check a ggml file before a runtime loads it, without reading the weights: header,
    every tensor a Whisper model of those dimensions needs (each once, with its element
    count), each tensor's data inside the file, nothing after the last. whisper.cpp
    itself loads a cut-off file and transcribes nothing, or aborts the process."""
    path = Path(path)
    c = _Cursor(path)
    d, _ = _read_header(c)
    expected = expected_shapes(d)
    seen: set[str] = set()
    while c.pos < len(c.buf):
        start = c.pos
        name, ne, kind = _tensor_header(c)
        shape = expected.get(name)
        if shape is None or name in seen:
            raise ModelError(f"{path} is corrupt: {'repeated' if name in seen else 'unexpected'} tensor {name!r} "
                             f"near byte {start}")
        if math.prod(ne) != math.prod(shape):
            raise ModelError(f"{path} is corrupt: tensor {name} has {list(reversed(ne))}, expected {list(shape)}")
        c.skip(_data_bytes(kind, ne))
        seen.add(name)
    if len(seen) != len(expected):
        missing = [n for n in expected if n not in seen]
        raise ModelError(f"{path} is truncated or corrupt: {len(missing)} of {len(expected)} tensors missing "
                         f"(from {missing[0]})")
    return d


def read(path: Path, progress: Progress = NO_PROGRESS) -> Checkpoint:
    path = Path(path)
    c = _Cursor(path)
    d, ftype = _read_header(c)
    expected = expected_shapes(d)
    weights: dict[str, np.ndarray] = {}
    with progress.bar(len(expected), "reading ggml") as bar:
        while c.pos < len(c.buf):
            _read_tensor(c, path, expected, weights)
            bar.update(1)
    meta_path = sidecar(path)
    meta = read_json(meta_path, {})
    quantization = meta.get("quantization") or {v: k for k, v in _FTYPE.items()}.get(ftype, f"ftype{ftype}")
    ckpt = Checkpoint(
        dims=d,
        weights={n: weights[n] for n in expected if n in weights},
        tokenizer_json=None,
        suppress_tokens=list(meta.get("suppress_tokens") or []),
        begin_suppress_tokens=list(meta.get("begin_suppress_tokens") or []),
        alignment_heads=[tuple(x) for x in meta["alignment_heads"]] if meta.get("alignment_heads") else None,
        distilled=bool(meta.get("distilled", False)),
        source_quantization=quantization,
        source_format="ggml",
    )
    ckpt.check()
    return ckpt


def _tensor_header(c: _Cursor) -> tuple[str, tuple[int, ...], str]:
    """One tensor's header: (name, ne with the fastest-varying dimension first, type)."""
    path = c.path
    n_dims, name_len, ttype = c.ints(3)
    if not 0 < n_dims <= 4 or not 0 < name_len < 1024:
        raise ModelError(f"{path} is corrupt near byte {c.pos}")
    ne = c.ints(n_dims)
    name = bytes(c.take(name_len)).decode("utf-8", "replace")
    if any(n <= 0 for n in ne):
        raise ModelError(f"{path} is corrupt: tensor {name} has dimensions {list(ne)}")
    kind = _TYPE_NAME.get(ttype)
    if kind is None:
        raise ModelError(f"{path}: tensor {name} has unsupported ggml type {ttype}")
    return name, ne, kind


def _data_bytes(kind: str, ne: tuple[int, ...]) -> int:
    count = math.prod(ne)
    if kind in BLOCK_BYTES:
        return count // BLOCK * BLOCK_BYTES[kind]
    return count * (2 if kind == "float16" else 4)


def _read_tensor(c: _Cursor, path: Path, expected: dict, weights: dict[str, np.ndarray]) -> None:
    name, ne, kind = _tensor_header(c)
    count = math.prod(ne)
    data = c.take(_data_bytes(kind, ne))
    if kind in BLOCK_BYTES:
        arr = dequantize(kind, data, count)
    else:
        arr = np.frombuffer(data, dtype="<f2" if kind == "float16" else "<f4")
    shape = expected.get(name, tuple(reversed(ne)))
    weights[name] = arr.reshape(shape)
