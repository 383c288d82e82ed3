"""Whisper's byte-level BPE tokenizer in the forms each format stores it.

The canonical form is a Hugging Face `tokenizer.json`. When a source has none (openai
`.pt`, ggml, the tiny random model) we rebuild it offline from the `gpt2.tiktoken` /
`multilingual.tiktoken` rank files openai-whisper ships: same ids, same merges.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
from functools import lru_cache
from pathlib import Path

from whisperbench.conversion.checkpoint import Dims, SpecialTokens
from whisperbench.errors import ConversionError


@lru_cache(maxsize=1)
def byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (used in vocab strings)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


@lru_cache(maxsize=1)
def unicode_to_byte() -> dict[str, int]:
    return {c: b for b, c in byte_to_unicode().items()}


def token_to_bytes(token: str) -> bytes:
    m = unicode_to_byte()
    try:
        return bytes(m[c] for c in token)
    except KeyError:
        return token.encode("utf-8")  # special tokens are plain text


def bytes_to_token(raw: bytes) -> str:
    m = byte_to_unicode()
    return "".join(m[b] for b in raw)


def tiktoken_file(multilingual: bool) -> Path:
    spec = importlib.util.find_spec("whisper")
    if spec is None or spec.origin is None:
        raise ConversionError(
            "building a tokenizer for a model that ships none needs openai-whisper's vocabulary files; "
            "install it with: pip install 'whisperbench[openai]'"
        )
    return Path(spec.origin).parent / "assets" / ("multilingual.tiktoken" if multilingual else "gpt2.tiktoken")


def _bpe_parts(token: bytes, ranks: dict[bytes, int], limit: int) -> list[bytes]:
    """Apply BPE merges of rank < limit to `token`; the last merge gives its two parents."""
    parts = [bytes([b]) for b in token]
    while len(parts) > 1:
        best, best_rank = -1, limit
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < best_rank:
                best, best_rank = i, r
        if best < 0:
            break
        parts[best: best + 2] = [parts[best] + parts[best + 1]]
    return parts


def _cache_path(source: Path) -> Path:
    from whisperbench.models import cache_dir

    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    return cache_dir() / "tokenizers" / f"{source.stem}-{digest}.json"


def tokenizer_json_from_tiktoken(dims: Dims) -> str:
    """A Whisper tokenizer.json for this vocabulary size, built from openai-whisper's rank file."""
    source = tiktoken_file(dims.multilingual)
    special = SpecialTokens.for_dims(dims)
    cached = _cache_path(source)
    if cached.exists():
        base = json.loads(cached.read_text())
    else:
        ranks: dict[bytes, int] = {}
        for line in source.read_text().splitlines():
            if line:
                tok, rank = line.split()
                ranks[base64.b64decode(tok)] = int(rank)
        vocab = {bytes_to_token(tok): rank for tok, rank in ranks.items()}
        merges = []
        for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
            if len(tok) < 2:
                continue
            parts = _bpe_parts(tok, ranks, rank)
            if len(parts) != 2:
                raise ConversionError(f"cannot derive a BPE merge for token {rank} from {source.name}")
            merges.append(f"{bytes_to_token(parts[0])} {bytes_to_token(parts[1])}")
        base = {"vocab": vocab, "merges": merges}
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".tmp{id(base)}")
        tmp.write_text(json.dumps(base))
        tmp.replace(cached)
    vocab = dict(base["vocab"])
    vocab["<|endoftext|>"] = special.eot
    return build_tokenizer_json(vocab, base["merges"], special)


def build_tokenizer_json(vocab: dict[str, int], merges: list[str], special: SpecialTokens) -> str:
    added = [
        {"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
        for i, c in special.named()
    ]
    sot, nots, eot = "<|startoftranscript|>", "<|notimestamps|>", "<|endoftext|>"

    def sp(name: str, type_id: int = 0) -> dict:
        return {"SpecialToken": {"id": name, "type_id": type_id}}

    data = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [sp(sot), sp(nots), {"Sequence": {"id": "A", "type_id": 0}}, sp(eot)],
            "pair": [sp(sot), sp(nots), {"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}, sp(eot, 1)],
            "special_tokens": {
                n: {"id": n, "ids": [i], "tokens": [n]}
                for n, i in ((eot, special.eot), (nots, special.no_timestamps), (sot, special.sot))
            },
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
            "end_of_word_suffix": "", "fuse_unk": False, "vocab": vocab, "merges": merges,
        },
    }
    return json.dumps(data, ensure_ascii=False)


def tokenizer_for(dims: Dims, tokenizer_json: str | None) -> str:
    return tokenizer_json if tokenizer_json else tokenizer_json_from_tiktoken(dims)


def full_vocabulary(dims: Dims, tokenizer_json: str) -> list[str]:
    """Every token string by id (n_vocab of them), timestamps included: CTranslate2's vocabulary."""
    data = json.loads(tokenizer_json)
    tokens: list[str | None] = [None] * dims.n_vocab
    for tok, i in data["model"]["vocab"].items():
        if i < dims.n_vocab:
            tokens[i] = tok
    for a in data.get("added_tokens", []):
        if a["id"] < dims.n_vocab:
            tokens[a["id"]] = a["content"]
    special = SpecialTokens.for_dims(dims)
    for k in range(special.timestamp_begin, dims.n_vocab):
        if tokens[k] is None:
            tokens[k] = "<|%.2f|>" % ((k - special.timestamp_begin) * 0.02)
    for k, t in enumerate(tokens):
        if t is None:
            tokens[k] = f"<|unused{k}|>"
    return tokens  # type: ignore[return-value]


def regular_token_bytes(dims: Dims, tokenizer_json: str) -> list[bytes]:
    """Raw bytes of the ordinary (non-special) tokens, ids 0..eot-1: what ggml stores."""
    data = json.loads(tokenizer_json)
    eot = SpecialTokens.for_dims(dims).eot
    out: list[bytes] = [b""] * eot
    for tok, i in data["model"]["vocab"].items():
        if i < eot:
            out[i] = token_to_bytes(tok)
    return out


def default_suppress_tokens(dims: Dims, tokenizer_json: str) -> list[int]:
    """openai-whisper's non-speech symbols plus the task/control tokens, as HF lists them."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer_json)
    symbols = list('"#()*+/:;<=>@[\\]^_`{|}~「」『』')
    symbols += "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split()
    miscellaneous = set("♩♪♫♬♭♮♯")

    def ids(text: str) -> list[int]:
        return tok.encode(text, add_special_tokens=False).ids

    result = {ids(" -")[0], ids(" '")[0]}
    for symbol in symbols + list(miscellaneous):
        for encoded in (ids(symbol), ids(" " + symbol)):
            if len(encoded) == 1 or symbol in miscellaneous:
                result.add(encoded[0])
    s = SpecialTokens.for_dims(dims)
    result |= {s.sot, s.translate, s.transcribe, s.sot_lm, s.sot_prev, s.no_speech}
    return sorted(result)


def default_begin_suppress(dims: Dims) -> list[int]:
    return [220, SpecialTokens.for_dims(dims).eot]
