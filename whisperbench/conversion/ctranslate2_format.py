"""CTranslate2 Whisper folders: `model.bin` read by our own parser (memory-mapped), written
through `ctranslate2.specs` so the binary always matches the installed runtime, with lazy
variables (ctranslate2_lazy.py) that convert or int8-quantize one tensor at a time."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from whisperbench.conversion.checkpoint import Checkpoint, Dims
from whisperbench.conversion import tokenizer as tok
from whisperbench.conversion import formats
from whisperbench.conversion.formats import read_json
from whisperbench.conversion.progress import NO_PROGRESS, Progress
from whisperbench.errors import ConversionError, ModelError

QUANTIZATIONS = formats.get("ctranslate2").quantizations
# CTranslate2's type ids, in the order its serializer enumerates them.
_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


def _bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.uint32) << 16).view(np.float32)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.buf = np.memmap(path, dtype=np.uint8, mode="r")
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.buf):
            raise ModelError(f"{self.path} is truncated or corrupt (needs {self.pos + n} bytes, has {len(self.buf)})")
        out = self.buf[self.pos: self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, bytes(self.take(struct.calcsize("<" + fmt))))

    def string(self) -> str:
        (n,) = self.unpack("H")
        return bytes(self.take(n))[:-1].decode("utf-8")


def read_model_bin(path: Path, progress: Progress = NO_PROGRESS) -> tuple[str, dict[str, np.ndarray]]:
    """Parse CTranslate2's binary (version 6): returns (spec name, variables incl. aliases)."""
    r = _Reader(path)
    if len(r.buf) < 12:
        raise ModelError(f"{path} is truncated or not a CTranslate2 model.bin ({len(r.buf)} bytes)")
    (version,) = r.unpack("I")
    if version not in (5, 6):
        raise ModelError(f"{path}: unsupported CTranslate2 binary version {version} (expected 5 or 6)")
    name = r.string()
    r.unpack("I")  # spec revision
    (count,) = r.unpack("I")
    variables: dict[str, np.ndarray] = {}
    with progress.bar(count, "reading ctranslate2") as bar:
        for _ in range(count):
            _read_variable(r, path, variables)
            bar.update(1)
    if r.pos < len(r.buf):
        (n_alias,) = r.unpack("I")
        for _ in range(n_alias):
            alias, target = r.string(), r.string()
            variables[alias] = variables[target]
    return name, variables


def _read_variable(r: _Reader, path: Path, variables: dict[str, np.ndarray]) -> None:
    var = r.string()
    (ndim,) = r.unpack("B")
    shape = r.unpack("I" * ndim) if ndim else ()
    (type_id,) = r.unpack("B")
    (nbytes,) = r.unpack("I")
    raw = r.take(nbytes)
    if type_id >= len(_DTYPES):
        raise ModelError(f"{path}: variable {var} has unknown type id {type_id}")
    dtype = _DTYPES[type_id]
    if dtype == "bfloat16":
        arr = _bf16_to_f32(np.frombuffer(raw, dtype="<u2")).reshape(shape)
    else:
        arr = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)
    variables[var] = arr


def _weight(v: dict[str, np.ndarray], key: str) -> np.ndarray:
    w = v[key]
    scale = v.get(key + "_scale")
    if w.dtype == np.int8 and scale is not None:
        s = np.asarray(scale, dtype=np.float32)
        flat = w.reshape(w.shape[0], -1).astype(np.float32) / s.reshape(-1, 1)
        return flat.reshape(w.shape)
    return w


def _dims_from(v: dict[str, np.ndarray]) -> Dims:
    def layers(side: str) -> int:
        n = 0
        while f"{side}/layer_{n}/ffn/linear_0/weight" in v:
            n += 1
        return n

    conv1 = v["encoder/conv1/weight"]
    emb = v["decoder/embeddings/weight"]
    return Dims(
        n_mels=int(conv1.shape[1]),
        n_audio_ctx=int(v["encoder/position_encodings/encodings"].shape[0]),
        n_audio_state=int(conv1.shape[0]),
        n_audio_head=int(v["encoder/num_heads"]),
        n_audio_layer=layers("encoder"),
        n_vocab=int(emb.shape[0]),
        n_text_ctx=int(v["decoder/position_encodings/encodings"].shape[0]),
        n_text_state=int(emb.shape[1]),
        n_text_head=int(v["decoder/num_heads"]),
        n_text_layer=layers("decoder"),
    )


def _quantization(v: dict[str, np.ndarray]) -> str:
    w = v["decoder/layer_0/ffn/linear_0/weight"]
    if w.dtype == np.int8:
        other = v["decoder/layer_0/ffn/linear_0/bias"].dtype
        return "int8_float16" if other == np.float16 else "int8_float32"
    return str(w.dtype)


def read(path: Path, progress: Progress = NO_PROGRESS) -> Checkpoint:
    path = Path(path)
    cfg_path = path / "config.json"
    if not (path / "model.bin").exists():
        raise ModelError(f"{path} has no model.bin: not a CTranslate2 model folder")
    name, v = read_model_bin(path / "model.bin", progress)
    if name != "WhisperSpec":
        raise ModelError(f"{path} is a CTranslate2 {name}, not a Whisper model")
    try:
        dims = _dims_from(v)
    except KeyError as exc:
        raise ModelError(f"{path}/model.bin lacks the Whisper variable {exc}") from None
    cfg = read_json(cfg_path, {})
    w: dict[str, np.ndarray] = {}
    for key in ("conv1", "conv2"):
        w[f"encoder.{key}.weight"] = _weight(v, f"encoder/{key}/weight")
        w[f"encoder.{key}.bias"] = v[f"encoder/{key}/bias"]
    w["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]
    for side, n in (("encoder", dims.n_audio_layer), ("decoder", dims.n_text_layer)):
        width = dims.n_audio_state if side == "encoder" else dims.n_text_state
        for i in range(n):
            src, dst = f"{side}/layer_{i}", f"{side}.blocks.{i}"
            qkv_w, qkv_b = _weight(v, f"{src}/self_attention/linear_0/weight"), v[f"{src}/self_attention/linear_0/bias"]
            for k, proj in enumerate(("query", "key", "value")):
                w[f"{dst}.attn.{proj}.weight"] = qkv_w[k * width: (k + 1) * width]
                if proj != "key":
                    w[f"{dst}.attn.{proj}.bias"] = qkv_b[k * width: (k + 1) * width]
            w[f"{dst}.attn.out.weight"] = _weight(v, f"{src}/self_attention/linear_1/weight")
            w[f"{dst}.attn.out.bias"] = v[f"{src}/self_attention/linear_1/bias"]
            _ln(w, v, f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
            if side == "decoder":
                a = f"{src}/attention"
                w[f"{dst}.cross_attn.query.weight"] = _weight(v, f"{a}/linear_0/weight")
                w[f"{dst}.cross_attn.query.bias"] = v[f"{a}/linear_0/bias"]
                kv_w, kv_b = _weight(v, f"{a}/linear_1/weight"), v[f"{a}/linear_1/bias"]
                w[f"{dst}.cross_attn.key.weight"] = kv_w[:width]
                w[f"{dst}.cross_attn.value.weight"] = kv_w[width:]
                w[f"{dst}.cross_attn.value.bias"] = kv_b[width:]
                w[f"{dst}.cross_attn.out.weight"] = _weight(v, f"{a}/linear_2/weight")
                w[f"{dst}.cross_attn.out.bias"] = v[f"{a}/linear_2/bias"]
                _ln(w, v, f"{dst}.cross_attn_ln", f"{a}/layer_norm")
            for k, lin in (("0", "linear_0"), ("2", "linear_1")):
                w[f"{dst}.mlp.{k}.weight"] = _weight(v, f"{src}/ffn/{lin}/weight")
                w[f"{dst}.mlp.{k}.bias"] = v[f"{src}/ffn/{lin}/bias"]
            _ln(w, v, f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")
    _ln(w, v, "encoder.ln_post", "encoder/layer_norm")
    w["decoder.token_embedding.weight"] = _weight(v, "decoder/embeddings/weight")
    w["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    _ln(w, v, "decoder.ln", "decoder/layer_norm")

    tokenizer_json = (path / "tokenizer.json").read_text() if (path / "tokenizer.json").exists() else None
    meta = _read_meta(path)
    ckpt = Checkpoint(
        dims=dims,
        weights=w,
        tokenizer_json=tokenizer_json,
        suppress_tokens=list(cfg.get("suppress_ids") or []),
        begin_suppress_tokens=list(cfg.get("suppress_ids_begin") or []),
        alignment_heads=[tuple(h) for h in cfg["alignment_heads"]] if cfg.get("alignment_heads") else None,
        distilled=bool(meta.get("distilled", False)),
        source_quantization=meta.get("quantization") or _quantization(v),
        source_format="ctranslate2",
        extra={"lang_ids": list(cfg["lang_ids"])} if cfg.get("lang_ids") else {},
    )
    ckpt.check()
    return ckpt


def _ln(w: dict, v: dict, dst: str, src: str) -> None:
    w[f"{dst}.weight"] = v[f"{src}/gamma"]
    w[f"{dst}.bias"] = v[f"{src}/beta"]


def _read_meta(path: Path) -> dict:
    meta = path / "whisperbench.json"
    return read_json(meta, {})


def write(ckpt: Checkpoint, out_dir: Path, quantization: str | None, progress: Progress = NO_PROGRESS,
          ctranslate2_quantizer: bool = False) -> str:
    """Write a CTranslate2 folder into `out_dir` (which exists and is empty); returns the quantization written.

    The spec is filled with lazy variables that convert (or int8-quantize) one tensor when
    ctranslate2's own serializer asks for its bytes, so peak memory stays near the size of
    the source plus one tensor whatever the target quantization. `ctranslate2_quantizer=True`
    hands ctranslate2 whole-model float copies and lets its quantizer run instead (the
    reference our quantizer is tested against; about 3-4x the checkpoint in memory)."""
    try:
        from ctranslate2.specs import whisper_spec

        from whisperbench.conversion.ctranslate2_lazy import LazyScale, LazyVariable, WriteContext, target_dtype
    except ImportError:
        raise ConversionError("writing CTranslate2 needs ctranslate2; install it with: pip install 'whisperbench[ctranslate2]'") from None
    q = quantization or ("float16" if ckpt.source_quantization in ("float16", "q8_0", "q5_0") or ckpt.source_quantization.startswith("int8") else "float32")
    if q not in QUANTIZATIONS:
        raise ConversionError(f"CTranslate2 cannot store quantization {q!r}; choose one of {', '.join(QUANTIZATIONS)}")
    d = ckpt.dims
    W = ckpt.weights
    spec = whisper_spec.WhisperSpec(d.n_audio_layer, d.n_audio_head, d.n_text_layer, d.n_text_head)
    ctx = WriteContext()

    def var(parts: list[np.ndarray], quantizable: bool):
        v = LazyVariable(parts, target_dtype(q, quantizable, parts), ctx)
        return v.materialize_source() if ctranslate2_quantizer else v

    def put(layer, attr: str, names: list[str]) -> None:
        parts = [np.asarray(W[n]) if n in W else None for n in names]
        if any(p is None for p in parts):  # a fused bias without the key's (openai has none): zeros
            rows = [np.asarray(W[n.rsplit(".", 1)[0] + ".weight"]).shape[0] for n in names]
            dtype = next((p.dtype for p in parts if p is not None), np.dtype(np.float32))
            parts = [p if p is not None else np.zeros(r, dtype=dtype) for p, r in zip(parts, rows)]
        quantizable = attr == "weight" and hasattr(layer, "weight_scale")
        v = var(parts, quantizable)
        setattr(layer, attr, v)
        if isinstance(v, LazyVariable) and v.dtype == "int8":
            layer.weight_scale = LazyScale(v)

    def lin(layer, prefixes: list[str]) -> None:
        put(layer, "weight", [p + ".weight" for p in prefixes])
        put(layer, "bias", [p + ".bias" for p in prefixes])

    def ln(layer, prefix: str) -> None:
        put(layer, "gamma", [prefix + ".weight"])
        put(layer, "beta", [prefix + ".bias"])

    enc = spec.encoder
    lin(enc.conv1, ["encoder.conv1"])
    lin(enc.conv2, ["encoder.conv2"])
    put(enc.position_encodings, "encodings", ["encoder.positional_embedding"])
    ln(enc.layer_norm, "encoder.ln_post")
    for side, layers in (("encoder", enc.layer), ("decoder", spec.decoder.layer)):
        for i, layer in enumerate(layers):
            p = f"{side}.blocks.{i}"
            lin(layer.self_attention.linear[0], [f"{p}.attn.query", f"{p}.attn.key", f"{p}.attn.value"])
            lin(layer.self_attention.linear[1], [f"{p}.attn.out"])
            ln(layer.self_attention.layer_norm, f"{p}.attn_ln")
            if side == "decoder":
                lin(layer.attention.linear[0], [f"{p}.cross_attn.query"])
                lin(layer.attention.linear[1], [f"{p}.cross_attn.key", f"{p}.cross_attn.value"])
                lin(layer.attention.linear[2], [f"{p}.cross_attn.out"])
                ln(layer.attention.layer_norm, f"{p}.cross_attn_ln")
            lin(layer.ffn.linear_0, [f"{p}.mlp.0"])
            lin(layer.ffn.linear_1, [f"{p}.mlp.2"])
            ln(layer.ffn.layer_norm, f"{p}.mlp_ln")
    dec = spec.decoder
    put(dec.embeddings, "weight", ["decoder.token_embedding.weight"])
    put(dec.position_encodings, "encodings", ["decoder.positional_embedding"])
    ln(dec.layer_norm, "decoder.ln")
    # Tied output projection: the same variable object, which ctranslate2 stores as an alias
    # (its scale is found through the alias, as in ctranslate2's own converter's output).
    dec.projection.weight = dec.embeddings.weight

    tokenizer_json = tok.tokenizer_for(d, ckpt.tokenizer_json)
    spec.register_vocabulary(tok.full_vocabulary(d, tokenizer_json))
    cfg = spec.config
    cfg.suppress_ids = list(ckpt.suppress_tokens) or tok.default_suppress_tokens(d, tokenizer_json)
    cfg.suppress_ids_begin = list(ckpt.begin_suppress_tokens) or tok.default_begin_suppress(d)
    cfg.lang_ids = list(ckpt.extra.get("lang_ids") or sorted(ckpt.special.languages.values()))
    cfg.alignment_heads = [list(h) for h in ckpt.alignment_heads_or_default()]
    try:
        spec.validate()
        # Variables already hold their final types: optimize() only aliases duplicates.
        spec.optimize(quantization=q if ctranslate2_quantizer else None)
    except ValueError as exc:
        raise ConversionError(f"CTranslate2 rejected the checkpoint: {exc}") from None
    total = sum(1 for v in spec.variables().values() if isinstance(v, LazyVariable))
    with progress.bar(total, "writing ctranslate2") as bar:
        ctx.bar = bar
        spec.save(str(out_dir))
    (out_dir / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
    return q
