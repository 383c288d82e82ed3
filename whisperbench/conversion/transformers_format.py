"""Hugging Face transformers Whisper folders: config, safetensors weights, generation
config, tokenizer and feature-extractor files, all loadable offline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from whisperbench.conversion import safetensors_io
from whisperbench.conversion import tokenizer as tok
from whisperbench.conversion.checkpoint import Checkpoint, Dims, LANGUAGE_CODES
from whisperbench.conversion import formats
from whisperbench.conversion.formats import read_json
from whisperbench.conversion.progress import NO_PROGRESS, Progress
from whisperbench.errors import ConversionError, ModelError

QUANTIZATIONS = formats.get("transformers").quantizations
_ST_DTYPE = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}

_BLOCK = [
    (r"attn\.query", "self_attn.q_proj"), (r"attn\.key", "self_attn.k_proj"),
    (r"attn\.value", "self_attn.v_proj"), (r"attn\.out", "self_attn.out_proj"),
    (r"cross_attn\.query", "encoder_attn.q_proj"), (r"cross_attn\.key", "encoder_attn.k_proj"),
    (r"cross_attn\.value", "encoder_attn.v_proj"), (r"cross_attn\.out", "encoder_attn.out_proj"),
    (r"attn_ln", "self_attn_layer_norm"), (r"cross_attn_ln", "encoder_attn_layer_norm"),
    (r"mlp\.0", "fc1"), (r"mlp\.2", "fc2"), (r"mlp_ln", "final_layer_norm"),
]
_TOP = {
    "encoder.positional_embedding": "model.encoder.embed_positions.weight",
    "decoder.positional_embedding": "model.decoder.embed_positions.weight",
    "decoder.token_embedding.weight": "model.decoder.embed_tokens.weight",
    "encoder.ln_post.weight": "model.encoder.layer_norm.weight",
    "encoder.ln_post.bias": "model.encoder.layer_norm.bias",
    "decoder.ln.weight": "model.decoder.layer_norm.weight",
    "decoder.ln.bias": "model.decoder.layer_norm.bias",
}


def hf_name(name: str) -> str:
    if name in _TOP:
        return _TOP[name]
    m = re.match(r"(encoder|decoder)\.blocks\.(\d+)\.(.+)\.(weight|bias)$", name)
    if not m:
        return "model." + name  # conv1 / conv2
    side, i, part, kind = m.groups()
    for pattern, repl in _BLOCK:
        if re.fullmatch(pattern, part):
            return f"model.{side}.layers.{i}.{repl}.{kind}"
    raise ConversionError(f"no transformers name for tensor {name}")


def config_dict(ckpt: Checkpoint, dtype: str) -> dict:
    d, s = ckpt.dims, ckpt.special
    return {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "activation_function": "gelu",
        "d_model": d.n_audio_state,
        "encoder_layers": d.n_audio_layer,
        "encoder_attention_heads": d.n_audio_head,
        "encoder_ffn_dim": 4 * d.n_audio_state,
        "decoder_layers": d.n_text_layer,
        "decoder_attention_heads": d.n_text_head,
        "decoder_ffn_dim": 4 * d.n_text_state,
        "num_mel_bins": d.n_mels,
        "max_source_positions": d.n_audio_ctx,
        "max_target_positions": d.n_text_ctx,
        "vocab_size": d.n_vocab,
        "num_hidden_layers": d.n_audio_layer,
        "bos_token_id": s.eot,
        "eos_token_id": s.eot,
        "pad_token_id": s.eot,
        "decoder_start_token_id": s.sot,
        "scale_embedding": False,
        "tie_word_embeddings": True,
        "use_cache": True,
        "dtype": dtype,
    }


def generation_config(ckpt: Checkpoint) -> dict:
    d, s = ckpt.dims, ckpt.special
    gen = {
        "alignment_heads": [list(h) for h in ckpt.alignment_heads_or_default()],
        "begin_suppress_tokens": ckpt.begin_suppress_tokens,
        "bos_token_id": s.eot,
        "decoder_start_token_id": s.sot,
        "eos_token_id": s.eot,
        "pad_token_id": s.eot,
        "is_multilingual": d.multilingual,
        "max_initial_timestamp_index": 50,
        "max_length": d.n_text_ctx,
        "no_timestamps_token_id": s.no_timestamps,
        "prev_sot_token_id": s.sot_prev,
        "return_timestamps": False,
        "suppress_tokens": ckpt.suppress_tokens,
    }
    if d.multilingual:
        gen["forced_decoder_ids"] = [[1, None], [2, s.transcribe]]
        gen["lang_to_id"] = {f"<|{c}|>": i for c, i in s.languages.items()}
        gen["task_to_id"] = {"transcribe": s.transcribe, "translate": s.translate}
    else:
        gen["forced_decoder_ids"] = [[1, s.no_timestamps]]
    return gen


def tokenizer_files(ckpt: Checkpoint, tokenizer_json: str) -> dict[str, str]:
    data = json.loads(tokenizer_json)
    s = ckpt.special
    eot = "<|endoftext|>"
    added = {a["content"]: a["id"] for a in data.get("added_tokens", [])}
    cfg = {
        "tokenizer_class": "WhisperTokenizer",
        "bos_token": eot, "eos_token": eot, "unk_token": eot, "pad_token": eot,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
        "model_max_length": 1024,
        "processor_class": "WhisperProcessor",
        "additional_special_tokens": [c for c, i in sorted(added.items(), key=lambda kv: kv[1]) if i != s.eot],
    }
    vocab = dict(data["model"]["vocab"])
    return {
        "tokenizer.json": tokenizer_json,
        "tokenizer_config.json": json.dumps(cfg, indent=2, ensure_ascii=False),
        "special_tokens_map.json": json.dumps(
            {"bos_token": eot, "eos_token": eot, "unk_token": eot, "pad_token": eot,
             "additional_special_tokens": cfg["additional_special_tokens"]}, indent=2),
        "vocab.json": json.dumps(vocab, ensure_ascii=False),
        # tokenizers >= 0.20 stores merges as [left, right] pairs, older ones as "left right"
        "merges.txt": "#version: 0.2\n" + "\n".join(m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]) + "\n",
        "added_tokens.json": json.dumps(added, indent=2, ensure_ascii=False),
    }


def preprocessor_config(d: Dims) -> dict:
    return {
        "chunk_length": 30, "feature_extractor_type": "WhisperFeatureExtractor", "feature_size": d.n_mels,
        "hop_length": 160, "n_fft": 400, "n_samples": 480000, "nb_max_frames": 3000,
        "padding_side": "right", "padding_value": 0.0, "processor_class": "WhisperProcessor",
        "return_attention_mask": False, "sampling_rate": 16000,
    }


def _normalizer_json() -> str | None:
    """openai-whisper's English spelling map, which HF ships as normalizer.json."""
    import importlib.util

    spec = importlib.util.find_spec("whisper")
    if spec is None or spec.origin is None:
        return None
    p = Path(spec.origin).parent / "normalizers" / "english.json"
    return p.read_text(encoding="utf-8") if p.exists() else None


def write(ckpt: Checkpoint, out_dir: Path, quantization: str | None, progress: Progress = NO_PROGRESS) -> str:
    q = quantization or ("float16" if ckpt.source_quantization != "float32" else "float32")
    if q not in QUANTIZATIONS:
        raise ConversionError(f"transformers output cannot store quantization {q!r}; choose one of {', '.join(QUANTIZATIONS)}")
    tensors = ((hf_name(n), w) for n, w in ckpt.iter_weights())
    with progress.bar(len(ckpt.weights), "writing transformers") as bar:
        safetensors_io.write(out_dir / "model.safetensors", tensors, _ST_DTYPE[q], on_tensor=bar.update)
    tokenizer_json = tok.tokenizer_for(ckpt.dims, ckpt.tokenizer_json)
    if not ckpt.suppress_tokens:
        ckpt.suppress_tokens = tok.default_suppress_tokens(ckpt.dims, tokenizer_json)
    if not ckpt.begin_suppress_tokens:
        ckpt.begin_suppress_tokens = tok.default_begin_suppress(ckpt.dims)
    files = {
        "config.json": json.dumps(config_dict(ckpt, q), indent=2),
        "generation_config.json": json.dumps(generation_config(ckpt), indent=2),
        "preprocessor_config.json": json.dumps(preprocessor_config(ckpt.dims), indent=2),
        **tokenizer_files(ckpt, tokenizer_json),
    }
    norm = _normalizer_json()
    if norm:
        files["normalizer.json"] = norm
    for name, text in files.items():
        (out_dir / name).write_text(text, encoding="utf-8")
    return q


def read(path: Path, progress: Progress = NO_PROGRESS) -> Checkpoint:
    path = Path(path)
    cfg_path = path / "config.json"
    if not cfg_path.exists():
        raise ModelError(f"{path} has no config.json: not a transformers model folder")
    cfg = read_json(cfg_path)
    if cfg.get("model_type") != "whisper":
        raise ModelError(f"{path} holds a {cfg.get('model_type')!r} model, not Whisper")
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise ModelError(f"{path} has no *.safetensors weights (pytorch_model.bin is not read; re-save with safetensors)")
    hf: dict[str, np.ndarray] = {}
    meta: dict[str, str] = {}
    with progress.bar(None, "reading transformers") as bar:
        for f in files:
            t, m = safetensors_io.read(f, on_tensor=bar.update)
            hf.update(t)
            meta.update(m)
    try:
        d = Dims(
            n_mels=cfg["num_mel_bins"], n_audio_ctx=cfg["max_source_positions"], n_audio_state=cfg["d_model"],
            n_audio_head=cfg["encoder_attention_heads"], n_audio_layer=cfg["encoder_layers"], n_vocab=cfg["vocab_size"],
            n_text_ctx=cfg["max_target_positions"], n_text_state=cfg["d_model"],
            n_text_head=cfg["decoder_attention_heads"], n_text_layer=cfg["decoder_layers"],
        )
    except KeyError as exc:
        raise ModelError(f"{cfg_path} lacks the Whisper setting {exc}") from None
    from whisperbench.conversion.checkpoint import expected_shapes

    weights: dict[str, np.ndarray] = {}
    for name in expected_shapes(d):
        key = hf_name(name)
        if key not in hf and name == "decoder.token_embedding.weight" and "proj_out.weight" in hf:
            key = "proj_out.weight"
        if key not in hf:
            raise ModelError(f"{path} lacks the tensor {key}")
        weights[name] = hf[key]
    gen_path = path / "generation_config.json"
    gen = read_json(gen_path, {})
    tj = path / "tokenizer.json"
    wb = path / "whisperbench.json"
    wbmeta = read_json(wb, {})
    heads = gen.get("alignment_heads")
    first = next(iter(hf.values()))
    ckpt = Checkpoint(
        dims=d,
        weights=weights,
        tokenizer_json=tj.read_text(encoding="utf-8") if tj.exists() else None,
        suppress_tokens=list(gen.get("suppress_tokens") or cfg.get("suppress_tokens") or []),
        begin_suppress_tokens=list(gen.get("begin_suppress_tokens") or cfg.get("begin_suppress_tokens") or []),
        alignment_heads=[tuple(h) for h in heads] if heads else None,
        distilled=bool(wbmeta.get("distilled", False)),
        source_quantization=wbmeta.get("quantization") or str(cfg.get("dtype") or cfg.get("torch_dtype") or first.dtype),
        source_format="transformers",
    )
    ckpt.check()
    return ckpt


def validate(path: Path) -> None:
    """Check a folder before a runtime loads it: config, and every tensor present with its
    shape (the safetensors files are memory-mapped, not read into memory)."""
    try:
        read(path)
    except ConversionError as exc:  # a tensor missing or misshapen (Checkpoint.check)
        raise ModelError(f"{path}: {exc}") from None


__all__ = ["read", "write", "validate", "hf_name", "QUANTIZATIONS", "LANGUAGE_CODES"]
