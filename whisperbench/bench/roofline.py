"""Memory-bandwidth roofline for Whisper's decoder.

At small batch sizes each decoded token reads every decoder weight once (self-attention
q/k/v/out, cross-attention q/out, the FFN, and the vocabulary projection); the
cross-attention keys/values of the encoder output are computed once per window and read
back every step. The fastest a runtime can decode a token is therefore

    bound = decoder weight bytes read per step / device memory bandwidth

with the bandwidth measured once per process by a copy benchmark on that device (numpy
on CPU, in as many threads as this process may use; torch on CUDA). `ratio` =
measured seconds per token / bound (1.0 = at the hardware limit).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from whisperbench.bench.architectures import Architecture
from whisperbench.options import usable_cpus

# Bytes per stored weight for each (backend, compute type) the synthetic benchmark runs.
_BYTES = {
    "float32": 4.0, "float16": 2.0, "bfloat16": 2.0,
    "int8": 1.0, "int8_float32": 1.0, "int8_float16": 1.0, "int8_bfloat16": 1.0,
    # ggml block formats: 32 weights per block plus scales
    "f16": 2.0, "q8_0": 34 / 32, "q5_0": 22 / 32, "q5_1": 24 / 32, "q4_0": 18 / 32,
}
# Activation bytes (KV caches) for each compute type.
_ACT = {"float32": 4.0, "int8": 4.0, "int8_float32": 4.0}

_cache: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


def weight_bytes_per_element(backend: str, compute_type: str) -> float:
    """Bytes per weight each decoder step reads: those of the precision the weights are
    stored in for that compute type (openai-whisper keeps float32 weights and casts them per
    call, so it reads float32 at float16)."""
    from whisperbench.bench.synthetic.weights import storage_quantization

    return _BYTES.get(storage_quantization(backend, compute_type), 4.0)


def activation_bytes(compute_type: str) -> float:
    return _ACT.get(compute_type, 4.0 if compute_type.startswith(("float32", "f32")) else 2.0)


def decoder_weights_per_step(arch: Architecture) -> int:
    """Weights (elements) the decoder reads for one step, embedding rows aside."""
    d, f, n = arch.dims.n_text_state, arch.text_ffn, arch.dims.n_text_layer
    self_attn = 4 * d * d + 3 * d  # q, k, v, out (+ q, v, out biases)
    cross_attn = 2 * d * d + 2 * d  # q, out; k/v of the encoder output are cached per window
    ffn = 2 * d * f + f + d
    norms = 3 * 2 * d
    per_layer = self_attn + cross_attn + ffn + norms
    vocab_projection = arch.dims.n_vocab * d  # logits = x @ token_embedding.T
    return n * per_layer + vocab_projection + 2 * d + 2 * d  # final LN, token + position rows


def decoder_bytes_per_step(arch: Architecture, backend: str, compute_type: str) -> float:
    return decoder_weights_per_step(arch) * weight_bytes_per_element(backend, compute_type)


def kv_bytes_per_step(arch: Architecture, batch_size: int, compute_type: str, position: float) -> float:
    """KV-cache bytes read in one step: cross-attention over n_audio_ctx encoder positions
    plus self-attention over `position` previous tokens, for every layer and batch item."""
    d, n = arch.dims.n_text_state, arch.dims.n_text_layer
    return n * 2 * d * (arch.dims.n_audio_ctx + position) * batch_size * activation_bytes(compute_type)


def measure_bandwidth(device: str = "cpu", size_mb: int = 256, repeats: int = 5) -> dict[str, Any]:
    """Copy bandwidth of `device` in GB/s (bytes read + written per second), best of
    `repeats`; measured once per process and device."""
    key = f"{device}:{size_mb}"
    with _lock:
        if key in _cache:
            return _cache[key]
        kind = device.split(":", 1)[0]
        if kind == "cuda":
            from whisperbench.backends.torch_common import cuda_copy_bandwidth

            result = cuda_copy_bandwidth(device, size_mb, repeats)
        else:
            result = _cpu_bandwidth(size_mb, repeats)
        result["device"] = device
        _cache[key] = result
        return result


def _cpu_bandwidth(size_mb: int, repeats: int) -> dict[str, Any]:
    import numpy as np

    n = size_mb * 2**20
    src = np.ones(n, dtype=np.uint8)
    dst = np.zeros(n, dtype=np.uint8)
    threads = usable_cpus()
    bounds = np.linspace(0, n, threads + 1).astype(int)

    def part(i: int) -> None:
        np.copyto(dst[bounds[i]: bounds[i + 1]], src[bounds[i]: bounds[i + 1]])  # releases the GIL

    best = float("inf")
    for _ in range(repeats + 1):  # the first pass faults the pages in
        t0 = time.perf_counter()
        if threads == 1:
            part(0)
        else:
            pool = [threading.Thread(target=part, args=(i,)) for i in range(threads)]
            for w in pool:
                w.start()
            for w in pool:
                w.join()
        best = min(best, time.perf_counter() - t0)
    return {"bandwidth_gbs": 2 * n / best / 1e9, "method": f"numpy copy, {size_mb} MiB, {threads} thread(s)",
            "seconds": best}


def roofline(arch: Architecture, backend: str, compute_type: str, batch_size: int, decode_tokens: int,
             per_token_seconds: float | None, bandwidth_gbs: float) -> dict[str, Any]:
    """Roofline columns for one measured row."""
    wbytes = decoder_bytes_per_step(arch, backend, compute_type)
    kv = kv_bytes_per_step(arch, batch_size, compute_type, position=4 + decode_tokens / 2)
    bw = bandwidth_gbs * 1e9
    bound = wbytes / bw
    bound_kv = (wbytes + kv) / bw
    return {
        "decoder_weight_bytes": wbytes,
        "kv_bytes_per_step": kv,
        "bound_per_token_s": bound,
        "bound_with_kv_per_token_s": bound_kv,
        "roofline_ratio": (per_token_seconds / bound) if per_token_seconds else None,
        "roofline_ratio_with_kv": (per_token_seconds / bound_kv) if per_token_seconds else None,
    }
