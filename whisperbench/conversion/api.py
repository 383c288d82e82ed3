"""Public conversion API: read any format, write any format, cache conversions."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from whisperbench.conversion import cache, formats
from whisperbench.conversion.checkpoint import CONVERTER_VERSION, Checkpoint, Dims, expected_shapes
from whisperbench.conversion.formats import detect_format
from whisperbench.conversion.progress import Progress, policy, size_on_disk
from whisperbench.errors import ConversionError, ModelError
from whisperbench.files import output_file, output_folder, umask_mode

META_FILE = "whisperbench.json"

# ggml and ONNX name float types f16/f32/fp32; accept every spelling everywhere.
_ALIASES = {"f16": "float16", "f32": "float32", "fp16": "float16", "fp32": "float32", "bf16": "bfloat16"}


def normalize_quantization(fmt: str, quantization: str | None) -> str | None:
    wf = formats.get(fmt)
    if quantization is None:
        return None
    q = _ALIASES.get(quantization.lower(), quantization.lower())
    if q not in wf.quantizations:
        raise ConversionError(f"{fmt} cannot store quantization {quantization!r}; valid: {', '.join(wf.quantizations)}")
    return q


def local_path(src: str | Path) -> Path:
    from whisperbench import models

    s = models.resolve(str(src))
    if s.path is None:
        raise ModelError(f"{src!r} is not a local model (no hub downloads here); pass a path or fixture:NAME")
    return s.path


def read(src: str | Path, progress: bool | Progress | None = None) -> Checkpoint:
    """Load any supported model (path or fixture:NAME) into a Checkpoint.

    progress: True / False force a tqdm bar over the tensors on / off; None (default) shows
    one only for checkpoints over 200 MB. Never drawn off a terminal or with WHISPERBENCH_QUIET=1."""
    path = local_path(src)
    fmt = detect_format(path)
    ckpt = formats.get(fmt).entry("reader")(path, progress=policy(progress, size_on_disk(path)))
    meta = read_metadata(path)
    if meta.get("distilled"):
        ckpt.distilled = True
    return ckpt


def check(path: str | Path) -> str:
    """Check a local model's files before a runtime is handed them, without reading the
    weights (a ggml or safetensors file is only memory-mapped); returns its format.
    Runtimes given a cut-off or corrupt file may crash, abort, or load it and transcribe
    nothing; this raises ModelError with one line instead. ctranslate2 and openai-whisper
    report their own files' damage clearly and are not re-read here."""
    path = Path(path)
    fmt = detect_format(path)
    wf = formats.get(fmt)
    if wf.validator:
        wf.entry("validator")(path)
    return fmt


def write(ckpt: Checkpoint, fmt: str, output: str | Path, quantization: str | None = None, force: bool = False,
          source: str | None = None, progress: bool | Progress | None = None) -> Path:
    """Write `ckpt` as `fmt` at `output`, atomically (temp path in the same folder, then rename).
    `progress` as for read(): a bar over the tensors written, by default only above 200 MB."""
    q = normalize_quantization(fmt, quantization)
    wf = formats.get(fmt)
    if wf.writer is None:
        raise ConversionError(f"{fmt} is built from a {wf.built_from} model, not written from weights: use convert()")
    out = _target(output, fmt, force).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    is_dir = wf.is_folder
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    os.chmod(tmp, umask_mode(folder=True))  # a folder format's output is this folder: not mkdtemp's 0700
    try:
        target = tmp if is_dir else tmp / out.name
        written = wf.entry("writer")(ckpt, target, q, progress=policy(progress, ckpt.nbytes()))
        meta = _metadata(fmt, written, ckpt.dims.to_dict(), ckpt.distilled, source, ckpt.source_format,
                         ckpt.source_quantization)
        meta["english_only"] = ckpt.english_only
        if is_dir:
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
            _replace(tmp, out, force)
        else:
            side = target.with_name(target.name + ".whisperbench.json")
            extra = json.loads(side.read_text()) if side.exists() else {}
            side.write_text(json.dumps({**extra, **meta}, indent=2))
            out_side = out.with_name(out.name + ".whisperbench.json")
            _replace(target, out, force)
            os.replace(side, out_side)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _metadata(fmt: str, quantization: str, dims: dict, distilled: bool, source: str | None, source_format: str | None,
              source_quantization: str | None) -> dict[str, Any]:
    """What whisperbench.json records about a model it wrote (describe() reads it back)."""
    return {"format": fmt, "quantization": quantization, "dims": dims, "distilled": distilled, "source": source,
            "source_format": source_format, "source_quantization": source_quantization, "converter_version": CONVERTER_VERSION}


def _build(src: str | Path, fmt: str, out: Path, q: str | None, decoder_layers: Sequence[int] | int | None = None,
           force: bool = False, progress: bool | Progress | None = None) -> Path:
    """Make a format that has a builder (made from a `built_from` model by an exporter, e.g.
    ONNX from a transformers folder) at `out`, with whisperbench.json beside its files."""
    wf = formats.get(fmt)
    path = local_path(src)
    have = detect_format(path)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=_mkdir(out.parent)) as tmp:
        if have == wf.built_from and decoder_layers is None:
            check(path)  # an exporter's own errors on a damaged model are pages of traceback
            base = path
        else:
            ckpt = read(path, progress=progress)
            if decoder_layers is not None:
                ckpt = derive_student(ckpt, decoder_layers)
            base = write(ckpt, wf.built_from, Path(tmp) / "source", source=str(src), progress=progress)
        info = describe(base)
        wf.entry("builder")(base, out, q, overwrite=force)
    meta = _metadata(fmt, q or wf.quantizations[0], info["dims"], info["distilled"], str(src), have, info["quantization"])
    (out / META_FILE if wf.is_folder else out.with_name(out.name + ".whisperbench.json")).write_text(json.dumps(meta, indent=2))
    return out


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _target(output: str | Path, fmt: str, force: bool) -> Path:
    """The output path, checked before any work: not already there unless `force`, and
    writable as the folder or file that `fmt` is."""
    out = Path(output).expanduser()
    if (out.exists() or out.is_symlink()) and not force:
        raise ConversionError(f"{out} already exists; pass --force (force=True) to overwrite")
    if formats.get(fmt).is_folder:
        output_folder(out)
    else:
        output_file(out)
    return out


def _replace(src: Path, dst: Path, force: bool) -> None:
    if dst.exists() and force:
        if dst.is_dir() and not dst.is_symlink():
            old = dst.with_name(f".{dst.name}.old{os.getpid()}")
            os.replace(dst, old)
            os.replace(src, dst)
            shutil.rmtree(old, ignore_errors=True)
            return
        if dst.is_dir():
            raise ConversionError(f"{dst} is a directory; cannot replace it with a file")
    os.replace(src, dst)


def convert(src: str | Path, to: str, output: str | Path, quantization: str | None = None,
            decoder_layers: Sequence[int] | int | None = None, force: bool = False,
            progress: bool | Progress | None = None) -> Path:
    """Convert a model (any format, or fixture:NAME) to format `to` at `output`.
    `progress`: see read(); bars for reading and for writing the tensors."""
    if to not in formats.names():
        raise ConversionError(f"unknown target format {to!r}; formats: {', '.join(formats.names())}")
    q = normalize_quantization(to, quantization)
    out = _target(output, to, force)
    if formats.get(to).builder:
        return _build(src, to, out, q, decoder_layers, force, progress)
    ckpt = read(src, progress=progress)
    if decoder_layers is not None:
        ckpt = derive_student(ckpt, decoder_layers)
    return write(ckpt, to, out, quantization, force=force, source=str(src), progress=progress)


def ensure_format(model_spec: str, fmt: str, quantization: str | None = None) -> Path:
    """A local path of `model_spec` in format `fmt`: itself when it already is (and no other
    quantization is asked, or `fmt` cannot be re-made from itself), else a cached conversion
    (conversion.cache). A built format (ONNX) is made from a cached `built_from` copy."""
    q = normalize_quantization(fmt, quantization)
    wf = formats.get(fmt)
    path = local_path(model_spec)
    if detect_format(path) == fmt and (q is None or not wf.round_trips):
        return path
    if wf.builder:
        if detect_format(path) == wf.built_from:
            build = lambda out: _build(path, fmt, out, q)  # noqa: E731
        else:
            build = lambda out: _build(ensure_format(model_spec, wf.built_from), fmt, out, q)  # noqa: E731
    else:
        build = lambda out: write(read(path), fmt, out, q, source=str(model_spec))  # noqa: E731
    return cache.converted(path, fmt, q, build)


def read_metadata(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    side = p / META_FILE if p.is_dir() else p.with_name(p.name + ".whisperbench.json")
    if side.exists():
        try:
            return json.loads(side.read_text())
        except ValueError:
            return {}
    return {}


def describe(path: str | Path) -> dict[str, Any]:
    """Format, quantization, dims, english_only and distilled of a model on disk (for results)."""
    p = local_path(path)
    fmt = detect_format(p)
    meta = read_metadata(p)
    if "dims" in meta and "quantization" in meta:
        dims = meta["dims"]
        quantization = meta["quantization"]
    else:
        ckpt = formats.get(fmt).entry("reader")(p)
        dims, quantization = ckpt.dims.to_dict(), ckpt.source_quantization
        meta.setdefault("distilled", ckpt.distilled)
    n_vocab = dims["n_vocab"]
    return {
        "format": fmt,
        "quantization": quantization,
        "dims": dims,
        "english_only": n_vocab < 51865,
        "distilled": bool(meta.get("distilled", False)),
        "path": str(p),
    }


def derive_student(ckpt: Checkpoint, decoder_layers: Sequence[int] | int | None = None) -> Checkpoint:
    """Distil-Whisper-style student: keep a subset of decoder layers (default 2, maximally
    spaced, first and last kept), renumbered; everything else is shared with the teacher."""
    n = ckpt.dims.n_text_layer
    if decoder_layers is None:
        decoder_layers = 2
    if isinstance(decoder_layers, int):
        k = decoder_layers
        if not 1 <= k <= n:
            raise ConversionError(f"cannot keep {k} decoder layers of {n}")
        keep = [0] if k == 1 else sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})
    else:
        keep = sorted(set(int(i) for i in decoder_layers))
        if not keep or keep[0] < 0 or keep[-1] >= n:
            raise ConversionError(f"decoder layers {list(decoder_layers)} out of range 0..{n - 1}")
    dims = Dims(**{**ckpt.dims.to_dict(), "n_text_layer": len(keep)})
    weights: dict[str, np.ndarray] = {}
    for name, w in ckpt.weights.items():
        if name.startswith("decoder.blocks."):
            idx = int(name.split(".")[2])
            if idx in keep:
                rest = name.split(".", 3)[3]
                weights[f"decoder.blocks.{keep.index(idx)}.{rest}"] = w
        else:
            weights[name] = w
    heads = None
    if ckpt.alignment_heads:
        heads = [(keep.index(layer), h) for layer, h in ckpt.alignment_heads if layer in keep] or None
    out = Checkpoint(
        dims=dims, weights=weights, tokenizer_json=ckpt.tokenizer_json, suppress_tokens=list(ckpt.suppress_tokens),
        begin_suppress_tokens=list(ckpt.begin_suppress_tokens), alignment_heads=heads, distilled=True,
        source_quantization=ckpt.source_quantization, source_format=ckpt.source_format,
        extra={**ckpt.extra, "teacher_decoder_layers": keep},
    )
    out.check()
    return out


def tiny_random(seed: int = 0, n_vocab: int = 51865, d_model: int = 64, n_layer: int = 2, n_head: int = 2,
                n_mels: int = 80, dtype: str = "float32") -> Checkpoint:
    """A tiny random Whisper that every runtime loads (FFN = 4 x d_model, as openai-whisper
    and whisper.cpp assume). Weights are small so activations stay finite in float16."""
    dims = Dims(n_mels=n_mels, n_audio_ctx=1500, n_audio_state=d_model, n_audio_head=n_head, n_audio_layer=n_layer,
                n_vocab=n_vocab, n_text_ctx=448, n_text_state=d_model, n_text_head=n_head, n_text_layer=n_layer)
    rng = np.random.default_rng(seed)
    weights: dict[str, np.ndarray] = {}
    for name, shape in expected_shapes(dims).items():
        if name.endswith("ln.weight") or name.endswith("_ln.weight") or name.endswith("ln_post.weight"):
            w = np.ones(shape) + 0.02 * rng.standard_normal(shape)
        elif name == "encoder.positional_embedding":
            w = _sinusoids(*shape)
        else:
            w = 0.02 * rng.standard_normal(shape)
        weights[name] = w.astype(dtype)
    ckpt = Checkpoint(dims=dims, weights=weights, source_quantization=dtype, source_format="random")
    ckpt.check()
    return ckpt


def _sinusoids(length: int, channels: int) -> np.ndarray:
    half = channels // 2
    inv = np.exp(-np.log(10000) / (half - 1) * np.arange(half))
    t = np.arange(length)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1)


def save_random(output: str | Path, to: str, quantization: str | None = None, force: bool = False, **kwargs) -> Path:
    """Write `tiny_random(**kwargs)` in format `to` (a convenience for tests and other issues)."""
    return write(tiny_random(**kwargs), to, output, quantization, force=force, source="tiny_random")


def timed(fn, *args, **kwargs):  # small helper for the benchmark
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0
