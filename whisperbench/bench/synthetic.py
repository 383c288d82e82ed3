"""Architecture timing without weights: random weights at real Whisper dimensions, in
each runtime's own format, timed at a fixed decode length.

For each (architecture, backend, device, compute type, batch size) this measures

- encoder time for a batch of 30 s windows (the runtime's encoder call alone);
- total latency: features (PCM for whisper.cpp) -> exactly N decoded tokens per item,
  end-of-text suppressed, greedy, no timestamps, through the runtime's own generate;
- decoder time, timed on its own: N tokens generated from the encoder output the
  encoder call kept (transformers `generate(encoder_outputs=...)`, CTranslate2
  `generate(encoded)`, openai-whisper `decode(audio_features)`); whisper.cpp cannot
  start from an encoder output, so its own timings of whisper_full are read (prompt +
  decode + batched decode + sampling). Per-token latency = decoder time / N. (Total minus
  encoder is kept as `total_minus_encoder_seconds`: on a CPU the encoder's jitter can
  exceed a small decoder's whole time, so it is not used.);
- peak memory (process RSS sampled during the cell; on CUDA the device memory in use,
  read through NVML, and PyTorch's allocator peak for the torch runtimes);
- the memory-bandwidth roofline of the decoder (see `whisperbench.bench.roofline`).

How each runtime is held to N tokens (the decoded length is always read back from the
runtime's output and a row whose length differs is a failure, never a timing):

- transformers: `generate(min_new_tokens=N, max_new_tokens=N)` (min_new_tokens masks EOT);
- CTranslate2: `Whisper.generate(max_length=2N, suppress_tokens=[-1, EOT])`: its Whisper
  generates at most max_length // 2 new tokens (measured with 4.8.5), EOT suppressed;
- openai-whisper: `Whisper.decode` with `sample_len=N, suppress_tokens=[-1, EOT]`;
- whisper.cpp: `whisper_full` with `max_tokens=N-1` (it stops after max_tokens + 1), one
  segment, no fallback. pywhispercpp cannot pass a logits filter (its callback gets no
  logits array), so EOT is suppressed with `suppress_regex="\\[_EOT_\\]"` only when the
  model emits EOT early: that regex is run over the whole vocabulary at every step and
  costs tens of ms per token on a CPU, so a row says which method it used
  (`fixed_length_method`). Batches > 1 are skipped: whisper_full decodes one window.

Weights are generated, never downloaded, and cached in the cache of converted weights
(`whisperbench.conversion.cache`), keyed by architecture, format and quantization.

Results are JSON Lines records of kind `synthetic` (and one `synthetic_run`), written
with `whisperbench.bench.store.ResultWriter`; `dataset` is "synthetic".
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from whisperbench.backends import runtime_name
from whisperbench.bench.architectures import Architecture, ArchitectureError
from whisperbench.bench.architectures import get as get_architecture
from whisperbench.errors import UnsupportedOptionError, WhisperbenchError

RECORD = "synthetic"
RUN_RECORD = "synthetic_run"
DEFAULT_BACKENDS = ("transformers", "ctranslate2", "openai", "whispercpp")
DEFAULT_DECODE_TOKENS = 64
FORMAT_OF = {"transformers": "transformers", "ctranslate2": "ctranslate2", "openai": "openai", "whispercpp": "ggml",
             "dummy": "none"}
# Compute types the synthetic runners implement (a subset of what the adapters accept).
SUPPORTED = {
    "transformers": ("float32", "float16", "bfloat16"),
    "ctranslate2": ("float32", "float16", "bfloat16", "int8", "int8_float32", "int8_float16", "int8_bfloat16"),
    "openai": ("float32", "float16"),
    "whispercpp": ("f16", "q8_0", "q5_0", "q5_1", "q4_0"),
    "dummy": ("float32",),
}
TORCH_BACKENDS = ("transformers", "openai")  # runtimes on PyTorch's CUDA allocator
PROMPT_TOKENS = 4  # <|startoftranscript|> <|en|> <|transcribe|> <|notimestamps|> (3 for .en)


class SyntheticError(WhisperbenchError):
    """A synthetic timing that cannot be done as asked."""


class Skip(WhisperbenchError):
    """This runtime cannot do this cell; the reason is recorded as a `skipped` row."""


# ----- random weights ------------------------------------------------------------------


def random_checkpoint(arch: Architecture, seed: int = 0, eot_eager: bool = False):
    """A random `Checkpoint` with `arch`'s shapes (float16 arrays). `eot_eager` biases
    the decoder towards end-of-text at every step (tests: proves EOT suppression works)."""
    from whisperbench.conversion.checkpoint import Checkpoint

    arch.validate()
    rng = np.random.default_rng(seed)
    weights: dict[str, np.ndarray] = {}
    for name, shape in arch.shapes().items():
        if name.endswith(("ln.weight", "_ln.weight", "ln_post.weight")):
            w = np.ones(shape, dtype=np.float32)
        elif name.endswith(("ln.bias", "_ln.bias", "ln_post.bias")) or name.endswith(".bias"):
            w = np.zeros(shape, dtype=np.float32)
        elif name == "encoder.positional_embedding":
            w = _sinusoids(*shape)
        else:
            w = rng.standard_normal(shape, dtype=np.float32)
            w *= 0.02
        weights[name] = w.astype(np.float16)
    ckpt = Checkpoint(dims=arch.dims, weights=weights, distilled=arch.distilled, source_quantization="float16",
                      source_format="random")
    if eot_eager:
        d = arch.dims.n_text_state
        u = rng.standard_normal(d).astype(np.float32)
        u /= np.linalg.norm(u)
        ckpt.weights["decoder.ln.bias"] = (2.0 * u).astype(np.float16)
        emb = ckpt.weights["decoder.token_embedding.weight"].copy()
        emb[ckpt.special.eot] = (10.0 * u).astype(np.float16)
        ckpt.weights["decoder.token_embedding.weight"] = emb
    return ckpt


def _sinusoids(length: int, channels: int) -> np.ndarray:
    half = channels // 2
    inv = np.exp(-np.log(10000) / (half - 1) * np.arange(half))
    t = np.arange(length)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1).astype(np.float32)


def storage_quantization(backend: str, compute_type: str) -> str:
    """The quantization the weights are written in for a (backend, compute type)."""
    if backend == "whispercpp":
        return "float16" if compute_type == "f16" else compute_type
    if backend == "ctranslate2":
        return "float32" if compute_type == "float32" else "int8" if compute_type.startswith("int8") else "float16"
    if backend == "openai":
        return "float32"  # openai-whisper loads float32 master weights either way
    return compute_type  # transformers: float32 / float16 / bfloat16


def weights_path(arch: Architecture, backend: str, compute_type: str, eot_eager: bool = False) -> Path:
    """Random weights of `arch` for `backend` at `compute_type`, generated once and cached."""
    from whisperbench.conversion import cache, write

    fmt = FORMAT_OF[backend]
    q = storage_quantization(backend, compute_type)
    source = f"synthetic:{arch.name}-{arch.key()}{'-eot' if eot_eager else ''}"

    def build(out: Path) -> None:
        ckpt = random_checkpoint(arch, seed=int(arch.key()[:8], 16), eot_eager=eot_eager)
        write(ckpt, fmt, out, q, source=f"synthetic:{arch.name}")
        if fmt == "transformers" and not arch.standard_ffn:  # the writer assumes 4 x d_model
            cfg_path = out / "config.json"
            cfg = json.loads(cfg_path.read_text())
            cfg["encoder_ffn_dim"], cfg["decoder_ffn_dim"] = arch.audio_ffn, arch.text_ffn
            cfg_path.write_text(json.dumps(cfg, indent=2))

    return cache.converted(source, fmt, q, build)


# ----- memory --------------------------------------------------------------------------


class PeakMemory:
    """Samples this process's RSS in a thread; on CUDA also the device memory in use (one
    measure for every runtime, `whisperbench.gpu.GpuMemoryMonitor`) and, for runtimes on
    PyTorch, its allocator's peak."""

    def __init__(self, device: str, torch_allocator: bool = False, interval: float = 0.005) -> None:
        import psutil

        self.proc = psutil.Process()
        self.cuda = device.startswith("cuda")
        self.device = device
        self.torch_allocator = self.cuda and torch_allocator
        self.interval = interval
        self.rss_before = self.proc.memory_info().rss
        self.peak_rss = self.rss_before
        self.gpu = None
        if self.cuda:
            from whisperbench.gpu import GpuMemoryMonitor

            self.gpu = GpuMemoryMonitor(device).start()
        if self.torch_allocator:
            import torch

            torch.cuda.reset_peak_memory_stats(device)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        self.peak_rss = max(self.peak_rss, self.proc.memory_info().rss)

    def stop(self) -> dict[str, Any]:
        if self._stop.is_set():
            return {}
        self._stop.set()
        self._thread.join()
        self.sample()
        out: dict[str, Any] = {
            "peak_rss_mb": self.peak_rss / 2**20,
            "rss_before_mb": self.rss_before / 2**20,
            "rss_delta_mb": (self.peak_rss - self.rss_before) / 2**20,
        }
        if self.gpu is not None:
            out.update(self.gpu.stop())
        if self.torch_allocator:
            import torch

            out["gpu_allocated_peak_mb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
        return out


# ----- runners -------------------------------------------------------------------------


@dataclass
class Inputs:
    features: np.ndarray  # [B, n_mels, 3000] float32 log-mel-like values
    pcm: np.ndarray  # 30 s of 16 kHz noise (whisper.cpp computes its own features)


def make_inputs(arch: Architecture, batch_size: int, seed: int = 0) -> Inputs:
    rng = np.random.default_rng(seed)
    feats = (rng.standard_normal((batch_size, arch.dims.n_mels, 3000), dtype=np.float32) * 0.3).clip(-1.5, 1.5)
    pcm = (rng.standard_normal(16000 * 30, dtype=np.float32) * 0.05).clip(-1, 1)
    return Inputs(feats, pcm)


def _prompt(ckpt_dims, special) -> list[int]:
    if ckpt_dims.multilingual:
        return [special.sot, special.languages["en"], special.transcribe, special.no_timestamps]
    return [special.sot, special.no_timestamps]


class Runner:
    backend: str
    method: str  # how the decode length is fixed
    decoder_method = "generate from the kept encoder output"  # how `decode` times the decoder alone
    needs_weights = True
    # Options (-O KEY=VALUE) this runner honours, with what each does; any other is refused.
    option_help: dict[str, str] = {}

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        unknown = sorted(set(options) - set(cls.option_help))
        if unknown:
            valid = "; ".join(f"{k}: {v}" for k, v in cls.option_help.items()) or "none"
            raise UnsupportedOptionError(
                f"{runtime_name(cls.backend)} synthetic timing has no option "
                f"{', '.join(unknown)} (its options: {valid})"
            )

    def __init__(self, arch: Architecture, path: Path, device: str, compute_type: str, threads: int,
                 options: dict[str, Any]) -> None:
        from whisperbench.conversion.checkpoint import SpecialTokens

        self.arch, self.path, self.device, self.compute_type = arch, path, device, compute_type
        self.kind = device.split(":", 1)[0]
        self.threads = threads
        self.options = dict(options)
        self.special = SpecialTokens.for_dims(arch.dims)
        self.prompt = _prompt(arch.dims, self.special)
        self.extra: dict[str, Any] = {}
        self.load()

    def load(self) -> None: ...

    def prepare(self, inputs: Inputs) -> None:
        """Move inputs to the device (outside every timed region)."""

    def encode(self) -> float:
        """Seconds for the encoder on the prepared batch; keeps its output for `decode`."""
        raise NotImplementedError

    def generate(self, n: int) -> tuple[float, list[int]]:
        """Features -> exactly n tokens per item through the runtime's generate (encoder
        included): (seconds, decoded lengths)."""
        raise NotImplementedError

    def decode(self, n: int) -> tuple[float, list[int]]:
        """The decoder alone: n tokens per item from the encoder output kept by the last
        `encode` (whisper.cpp: its own timings of the last `generate`)."""
        raise NotImplementedError

    def close(self) -> None: ...


class TransformersRunner(Runner):
    backend = "transformers"
    method = "generate(min_new_tokens=N, max_new_tokens=N)"
    option_help = {
        "attn_implementation": "sdpa (default), eager or flash_attention_2",
        "torch_compile": "true: torch.compile the forward with a static KV cache",
        "compile_mode": "torch.compile's mode (with torch_compile)",
    }

    def load(self) -> None:
        import torch
        import transformers
        from transformers import WhisperForConditionalGeneration

        transformers.logging.set_verbosity_error()
        self.torch = torch
        self._threads_before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        attn = str(self.options.get("attn_implementation", "sdpa"))
        if attn not in ("eager", "sdpa", "flash_attention_2"):
            raise UnsupportedOptionError(f"attn_implementation={attn!r}: choose eager, sdpa or flash_attention_2")
        if attn == "flash_attention_2":
            import importlib.util

            if self.kind != "cuda" or self.compute_type not in ("float16", "bfloat16"):
                raise Skip("transformers: flash_attention_2 needs CUDA with float16 or bfloat16")
            if importlib.util.find_spec("flash_attn") is None:
                raise Skip("transformers: attn_implementation='flash_attention_2' needs the flash-attn package "
                           "(pip install flash-attn --no-build-isolation)")
        compile_ = str(self.options.get("torch_compile", "false")).lower() in ("1", "true", "yes", "on")
        self.dtype = getattr(torch, self.compute_type)
        try:
            self.model = WhisperForConditionalGeneration.from_pretrained(
                str(self.path), dtype=self.dtype, attn_implementation=attn, local_files_only=True,
            ).to(self.device).eval()
        except (ImportError, ValueError) as exc:
            raise Skip(f"transformers cannot load with attn_implementation={attn!r}: {exc}") from None
        if compile_:
            # Static KV cache so the compiled decoder step sees fixed shapes.
            self.model.generation_config.cache_implementation = "static"
            self.model.forward = torch.compile(self.model.forward, mode=self.options.get("compile_mode"))
        self.extra = {"attn_implementation": attn, "torch_compile": compile_,
                      "cache_implementation": "static" if compile_ else "dynamic"}

    def _sync(self) -> None:
        if self.kind == "cuda":
            self.torch.cuda.synchronize(self.device)

    def prepare(self, inputs: Inputs) -> None:
        self.features = self.torch.from_numpy(inputs.features).to(self.device, dtype=self.dtype)
        self._sync()

    def encode(self) -> float:
        with self.torch.inference_mode():
            t0 = time.perf_counter()
            self.encoded = self.model.model.encoder(self.features)
            self._sync()
            return time.perf_counter() - t0

    def generate(self, n: int) -> tuple[float, list[int]]:
        return self._generate(n, input_features=self.features)

    def decode(self, n: int) -> tuple[float, list[int]]:
        return self._generate(n, encoder_outputs=self.encoded)

    def _generate(self, n: int, **inputs: Any) -> tuple[float, list[int]]:
        kwargs: dict[str, Any] = dict(max_new_tokens=n, min_new_tokens=n, num_beams=1, do_sample=False,
                                      return_timestamps=False)
        if self.arch.dims.multilingual:
            kwargs.update(language="en", task="transcribe")
        with self.torch.inference_mode():
            t0 = time.perf_counter()
            out = self.model.generate(**inputs, **kwargs)
            self._sync()
            dt = time.perf_counter() - t0
        seqs = out["sequences"] if isinstance(out, dict) else out
        return dt, [self._length(row) for row in seqs.tolist()]

    def _length(self, row: list[int]) -> int:
        s = self.special
        if row and row[0] == s.sot and s.no_timestamps in row:  # a version that returns the prompt too
            row = row[row.index(s.no_timestamps) + 1:]
        return row.index(s.eot) if s.eot in row else len(row)

    def close(self) -> None:
        self.model = self.features = self.encoded = None
        self.torch.set_num_threads(self._threads_before)  # torch's thread count is process-wide


class CTranslate2Runner(Runner):
    backend = "ctranslate2"
    method = "Whisper.generate(max_length=2N, suppress_tokens=[-1, EOT])"

    def load(self) -> None:
        import ctranslate2

        self.ct2 = ctranslate2
        index = int(self.device.split(":", 1)[1]) if ":" in self.device else 0
        try:
            self.model = ctranslate2.models.Whisper(
                str(self.path), device=self.kind, device_index=index, compute_type=self.compute_type,
                intra_threads=self.threads or 0,
            )
        except (RuntimeError, ValueError) as exc:
            if "cublas" in str(exc).lower():
                from whisperbench.gpu import check_ctranslate2_cuda

                check_ctranslate2_cuda()
            raise SyntheticError(f"CTranslate2 cannot load {self.path} ({self.compute_type} on {self.device}): {exc}") from None

    def prepare(self, inputs: Inputs) -> None:
        self.features = self.ct2.StorageView.from_array(np.ascontiguousarray(inputs.features))

    def encode(self) -> float:
        t0 = time.perf_counter()
        # Kept on the device for `decode`; with to_cpu=False CTranslate2 synchronizes its
        # stream before returning, so the timing covers the whole encoder.
        self.encoded = self.model.encode(self.features, to_cpu=False)
        return time.perf_counter() - t0

    def generate(self, n: int) -> tuple[float, list[int]]:
        return self._generate(n, self.features)

    def decode(self, n: int) -> tuple[float, list[int]]:
        # Whisper.generate takes the encoder's output ([B, 1500, d]) as well as features.
        return self._generate(n, self.encoded)

    def _generate(self, n: int, inputs) -> tuple[float, list[int]]:
        b = self.features.shape[0]
        t0 = time.perf_counter()
        results = self.model.generate(
            inputs, [self.prompt] * b, beam_size=1, max_length=2 * n,
            suppress_tokens=[-1, self.special.eot], return_scores=False,
        )
        dt = time.perf_counter() - t0  # results hold host token ids: the work is done
        return dt, [len(r.sequences_ids[0]) for r in results]

    def close(self) -> None:
        self.model = self.features = self.encoded = None


class OpenAIRunner(Runner):
    backend = "openai"
    method = "Whisper.decode(sample_len=N, suppress_tokens=[-1, EOT])"

    def load(self) -> None:
        import torch
        import whisper

        self.torch, self.whisper = torch, whisper
        self._threads_before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        self.model = whisper.load_model(str(self.path), device=self.device)
        self.fp16 = self.compute_type == "float16"
        self.extra = {"weights_dtype": "float32 (cast per call when fp16)" if self.fp16 else "float32"}

    def _sync(self) -> None:
        if self.kind == "cuda":
            self.torch.cuda.synchronize(self.device)

    def prepare(self, inputs: Inputs) -> None:
        mel = self.torch.from_numpy(inputs.features).to(self.device)
        self.mel = mel.half() if self.fp16 else mel
        self._sync()

    def encode(self) -> float:
        with self.torch.inference_mode():
            t0 = time.perf_counter()
            self.encoded = self.model.encoder(self.mel)
            self._sync()
            return time.perf_counter() - t0

    def generate(self, n: int) -> tuple[float, list[int]]:
        return self._decode(n, self.mel)

    def decode(self, n: int) -> tuple[float, list[int]]:
        # Whisper.decode skips the encoder when given [B, n_audio_ctx, n_audio_state] features.
        return self._decode(n, self.encoded)

    def _decode(self, n: int, inputs) -> tuple[float, list[int]]:
        opts = self.whisper.DecodingOptions(
            language="en", task="transcribe", without_timestamps=True, sample_len=n,
            suppress_tokens=[-1, self.special.eot], fp16=self.fp16,
        )
        with self.torch.inference_mode():
            t0 = time.perf_counter()
            results = self.model.decode(inputs, opts)
            self._sync()
            dt = time.perf_counter() - t0
        return dt, [len(r.tokens) for r in results]

    def close(self) -> None:
        self.model = self.mel = self.encoded = None
        self.torch.set_num_threads(self._threads_before)


class WhisperCppRunner(Runner):
    backend = "whispercpp"
    method = "whisper_full(max_tokens=N-1)"
    decoder_method = "whisper.cpp's own timings of whisper_full: prompt + decode + batchd + sample"
    REGEX = r"\[_EOT_\]"

    def load(self) -> None:
        import _pywhispercpp as pw
        from pywhispercpp.model import Model

        self.pw = pw
        if self.kind == "cuda":
            from whisperbench.gpu import check_whispercpp_cuda

            check_whispercpp_cuda()
        self.n_threads = self.threads or min(4, _cpu_count())
        self.wrapper = Model(
            str(self.path), redirect_whispercpp_logs_to=None, n_threads=self.n_threads, print_progress=False,
            context_params={"use_gpu": self.kind == "cuda"},
        )
        self.ctx = self.wrapper._ctx
        if self.ctx is None:
            raise SyntheticError(f"whisper.cpp could not load {self.path}")
        self.eot = pw.whisper_token_eot(self.ctx)
        self.suppress_regex = ""
        self.extra = {"n_threads": self.n_threads, "use_gpu": self.kind == "cuda"}

    def prepare(self, inputs: Inputs) -> None:
        if inputs.features.shape[0] != 1:
            raise Skip("whisper.cpp: no batched decoding (whisper_full decodes one window per call); batch_size must be 1")
        self.pcm = np.ascontiguousarray(inputs.pcm)
        t0 = time.perf_counter()
        self.pw.whisper_pcm_to_mel(self.ctx, self.pcm, self.pcm.size, self.n_threads)
        self.mel_seconds = time.perf_counter() - t0

    def encode(self) -> float:
        self.pw.whisper_pcm_to_mel(self.ctx, self.pcm, self.pcm.size, self.n_threads)
        t0 = time.perf_counter()
        rc = self.pw.whisper_encode(self.ctx, 0, self.n_threads)
        dt = time.perf_counter() - t0
        if rc != 0:
            raise SyntheticError(f"whisper.cpp: whisper_encode failed ({rc})")
        return dt

    def _params(self, n: int):
        pw = self.pw
        p = pw.whisper_full_default_params(pw.whisper_sampling_strategy.WHISPER_SAMPLING_GREEDY)
        p.n_threads = self.n_threads
        p.language = "en"
        p.translate = False
        p.detect_language = False
        p.no_context = True
        p.no_timestamps = True
        p.single_segment = True
        p.max_tokens = n - 1  # whisper.cpp ends a segment once i >= max_tokens: n tokens
        p.temperature = 0.0
        p.temperature_inc = 0.0  # no fallback re-decodes
        p.entropy_thold = 0.0
        p.logprob_thold = -1e9
        p.no_speech_thold = 1e9
        p.suppress_regex = self.suppress_regex
        p.print_progress = p.print_realtime = p.print_timestamps = p.print_special = False
        return p

    def generate(self, n: int) -> tuple[float, list[int]]:
        pw = self.pw
        params = self._params(n)
        pw.whisper_reset_timings(self.ctx)
        t0 = time.perf_counter()
        rc = pw.whisper_full(self.ctx, params, self.pcm, self.pcm.size)
        dt = time.perf_counter() - t0
        self.timings = whispercpp_timings(pw, self.ctx)
        if rc != 0:
            raise SyntheticError(f"whisper.cpp: whisper_full failed ({rc})")
        tokens = [
            pw.whisper_full_get_token_id(self.ctx, i, j)
            for i in range(pw.whisper_full_n_segments(self.ctx))
            for j in range(pw.whisper_full_n_tokens(self.ctx, i))
        ]
        if self.eot in tokens:
            tokens = tokens[: tokens.index(self.eot)]
        # whisper_full includes computing the log-mel spectrogram; the other runtimes are
        # given features, so that time is taken out.
        self.lengths = [len(tokens)]
        return max(dt - self.mel_seconds, 0.0), self.lengths

    def decode(self, n: int) -> tuple[float, list[int]]:
        # whisper_full cannot start from an encoder output: its own timings of the last
        # generate give the decoder's part (prompt, per-token decode and sampling).
        t = self.timings
        missing = [k for k in WHISPERCPP_DECODER_TIMINGS if k not in t]
        if missing:
            raise SyntheticError(f"whisper.cpp: whisper_print_timings gave no {', '.join(missing)} time ({t})")
        return sum(t[k] for k in WHISPERCPP_DECODER_TIMINGS), self.lengths

    def use_regex(self) -> None:
        self.suppress_regex = self.REGEX
        self.method = f"whisper_full(max_tokens=N-1, suppress_regex={self.REGEX!r}) (regex costs time per token)"

    def close(self) -> None:
        self.wrapper = self.ctx = None


WHISPERCPP_DECODER_TIMINGS = ("prompt", "decode", "batchd", "sample")


def whispercpp_timings(pw, ctx) -> dict[str, float]:
    """whisper.cpp's own timings (seconds by name: mel, sample, encode, decode, batchd,
    prompt, total) since the last whisper_reset_timings, read from what
    whisper_print_timings writes to stderr (pywhispercpp has no getter)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as fh:
        try:
            os.dup2(fh.fileno(), 2)
            pw.whisper_print_timings(ctx)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        fh.seek(0)
        text = fh.read().decode("utf-8", "replace")
    return {m.group(1): float(m.group(2)) / 1000
            for m in re.finditer(r"(\w+) time =\s*([0-9.]+) ms", text)}


class DummyRunner(Runner):
    """No runtime and no weights: sleeps instead of computing and can misbehave like the
    harness's dummy backend (see `option_help`), so the orchestration is testable in
    milliseconds."""

    backend = "dummy"
    method = "a sleep per token"
    needs_weights = False
    option_help = {
        "encoder_seconds": "sleep this long for the encoder (default 0.002)",
        "seconds_per_token": "sleep this long per decoded token (default 0.0005)",
        "crash": "abort or raise in generate",
        "hang": "sleep this many seconds (true: forever) in each generate",
        "allocate_mb": "allocate and touch this much memory in each generate",
    }

    def load(self) -> None:
        self.hoard: list = []
        self.batch = 1

    def prepare(self, inputs: Inputs) -> None:
        self.batch = len(inputs.features)

    def encode(self) -> float:
        t0 = time.perf_counter()
        time.sleep(float(self.options.get("encoder_seconds", 0.002)))
        return time.perf_counter() - t0

    def generate(self, n: int) -> tuple[float, list[int]]:
        from whisperbench.backends.dummy.adapter import misbehave

        t0 = time.perf_counter()
        misbehave(self.options, self.hoard)
        self.encode()
        self.decode(n)
        return time.perf_counter() - t0, [n] * self.batch

    def decode(self, n: int) -> tuple[float, list[int]]:
        t0 = time.perf_counter()
        time.sleep(n * float(self.options.get("seconds_per_token", 0.0005)))
        return time.perf_counter() - t0, [n] * self.batch

    def close(self) -> None:
        self.hoard.clear()


RUNNERS: dict[str, type[Runner]] = {
    r.backend: r for r in (TransformersRunner, CTranslate2Runner, OpenAIRunner, WhisperCppRunner, DummyRunner)
}


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# ----- validation ----------------------------------------------------------------------


def resolve_cell(backend: str, device: str, compute_type: str) -> tuple[str, str, str]:
    """(backend, device, compute type) checked with the backend adapter's own validation;
    raises Skip / UnsupportedOptionError / BackendNotInstalledError with the reason."""
    from whisperbench import backends
    from whisperbench.options import LoadOptions

    name = backends.spec(backend).name
    if name not in RUNNERS:
        raise Skip(f"{name}: no synthetic timing for this backend (runtimes: {', '.join(RUNNERS)})")
    cls = backends.get(name)  # raises BackendNotInstalledError naming what to install
    kind = device.split(":", 1)[0]
    if kind == "cuda" and name == "whispercpp":
        from whisperbench.gpu import check_whispercpp_cuda

        try:
            check_whispercpp_cuda()
        except UnsupportedOptionError as exc:
            raise Skip(str(exc)) from None
        ct = "f16" if compute_type == "default" else compute_type
        if ct not in SUPPORTED[name]:
            raise UnsupportedOptionError(f"whispercpp: compute type {ct!r}; valid: {', '.join(SUPPORTED[name])}")
        return name, device, ct
    if kind == "cuda" and name == "ctranslate2":
        from whisperbench.gpu import check_ctranslate2_cuda

        check_ctranslate2_cuda()
    lo = cls.resolve_load_options(LoadOptions(device=device, compute_type=compute_type))
    if lo.compute_type not in SUPPORTED[name]:
        raise Skip(f"{name}: synthetic timing supports compute types {', '.join(SUPPORTED[name])}, "
                   f"not {lo.compute_type!r}")
    return name, lo.device, lo.compute_type


def check_decode_tokens(arch: Architecture, backend: str, n: int) -> None:
    if n < 1:
        raise SyntheticError(f"--decode-tokens must be at least 1, got {n}")
    limit = arch.dims.n_text_ctx - PROMPT_TOKENS
    if backend in ("ctranslate2", "openai", "whispercpp"):
        # CTranslate2 samples at most max_length // 2 with max_length <= n_text_ctx; openai-whisper
        # and whisper.cpp cap one window's sample length at n_text_ctx // 2 (whisper.cpp: - 4).
        limit = arch.dims.n_text_ctx // 2 - PROMPT_TOKENS
    if n > limit:
        raise SyntheticError(
            f"{runtime_name(backend)} cannot decode {n} tokens in one window of {arch.name} "
            f"(at most {limit}: n_text_ctx={arch.dims.n_text_ctx} less the prompt"
            + (", halved as the runtime samples at most n_text_ctx // 2" if limit < arch.dims.n_text_ctx - 4 else "")
            + ")"
        )


# ----- measuring -----------------------------------------------------------------------


@dataclass
class CellSpec:
    arch: Architecture
    backend: str
    device: str = "cpu"
    compute_type: str = "default"
    batch_size: int = 1
    decode_tokens: int = DEFAULT_DECODE_TOKENS
    threads: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    eot_eager: bool = False  # tests: weights that would stop at once without EOT suppression


def measure(cell: CellSpec, repeats: int = 3, warmups: int = 1,
            bandwidth: dict[str, Any] | None = None) -> dict[str, Any]:
    """Time one cell; returns its row (status ok). Raises Skip / WhisperbenchError.
    `bandwidth`: the device's copy bandwidth when already measured (else measured here)."""
    from whisperbench.bench import noise, roofline

    arch = cell.arch
    arch.validate()
    backend, device, compute_type = resolve_cell(cell.backend, cell.device, cell.compute_type)
    problem = arch.runtime_problem(backend)
    if problem:
        raise ArchitectureError(problem)
    check_decode_tokens(arch, backend, cell.decode_tokens)
    if cell.batch_size < 1:
        raise SyntheticError(f"batch size must be at least 1, got {cell.batch_size}")
    runner_cls = RUNNERS[backend]
    runner_cls.check_options(cell.options)
    path = weights_path(arch, backend, compute_type, eot_eager=cell.eot_eager) if runner_cls.needs_weights else None
    n = cell.decode_tokens
    runtime = runtime_name(backend)
    mem = PeakMemory(device, torch_allocator=backend in TORCH_BACKENDS)
    runner = None
    try:
        t0 = time.perf_counter()
        runner = runner_cls(arch, path, device, compute_type, cell.threads, cell.options)
        load_seconds = time.perf_counter() - t0
        runner.prepare(make_inputs(arch, cell.batch_size))
        for w in range(max(warmups, 1)):
            runner.encode()
            _, lengths = runner.generate(n)
            if w == 0 and isinstance(runner, WhisperCppRunner) and lengths != [n]:
                runner.use_regex()  # the model emitted EOT early: suppress it
                _, lengths = runner.generate(n)
            runner.decode(n)
        enc, tot, dec, decoded = [], [], [], []
        before = noise.snapshot()
        for _ in range(repeats):
            enc.append(runner.encode())
            dt, lengths = runner.generate(n)
            tot.append(dt)
            dt, decoder_lengths = runner.decode(n)
            dec.append(dt)
            decoded = lengths
            for what, got in (("generate", lengths), ("decoder", decoder_lengths)):
                if any(x != n for x in got):
                    raise SyntheticError(
                        f"{runtime} decoded {got} tokens instead of exactly {n} ({what}: {runner.method}); "
                        "not timing a different length"
                    )
        load = noise.load_fields(before, noise.snapshot())
        memory = mem.stop()
    finally:
        mem.stop()  # a no-op after the stop above
        if runner is not None:
            runner.close()
        _free(device)
    encoder_s = statistics.median(enc)
    total_s = statistics.median(tot)
    # Timed on its own (not total - encoder: on a CPU the encoder's run-to-run jitter can
    # exceed a small decoder's whole time).
    decode_s = statistics.median(dec)
    per_token = decode_s / n
    spread = noise.dispersion(tot)  # of the total latency, the relative-latency column's figure
    bw = bandwidth or roofline.measure_bandwidth(device)
    row = {
        "status": "ok",
        "backend": backend,
        "runtime": runtime,
        "runtime_version": _runtime_version(backend),
        "model_format": FORMAT_OF[backend],
        "weights_quantization": storage_quantization(backend, compute_type),
        "compute_type": compute_type,
        "device": device,
        "threads": cell.threads,
        "batch_size": cell.batch_size,
        "decode_tokens": n,
        "decoded_tokens": decoded,
        "fixed_length_method": runner.method,
        "options": dict(cell.options),
        **runner.extra,
        "model_path": str(path) if path else None,
        "load_seconds": load_seconds,
        "encoder_seconds": encoder_s,
        "total_seconds": total_s,
        "decoder_seconds": decode_s,
        "decoder_method": runner.decoder_method,
        "total_minus_encoder_seconds": total_s - encoder_s,
        "per_token_seconds": per_token,
        "tokens_per_second": cell.batch_size * n / decode_s if decode_s > 0 else None,
        "encoder_seconds_all": enc,
        "total_seconds_all": tot,
        "decoder_seconds_all": dec,
        "repeats": repeats,
        "warmups": max(warmups, 1),
        **load,
        **{f"total_seconds_{k}": v for k, v in spread.items()},
        **noise.verdict_fields(noise.judge_rows([load], cv=spread["cv"])),
        **memory,
        "bandwidth_gbs": bw["bandwidth_gbs"],
        "bandwidth_method": bw["method"],
        **roofline.roofline(arch, backend, compute_type, cell.batch_size, n, per_token, bw["bandwidth_gbs"]),
    }
    if isinstance(runner, WhisperCppRunner):
        row["mel_seconds_excluded"] = runner.mel_seconds
        row["whispercpp_timings"] = runner.timings
    return row


def measure_or_record(cell: CellSpec, repeats: int, warmups: int,
                      bandwidth: dict[str, Any] | None = None) -> dict[str, Any]:
    """`measure`, with what stops a cell turned into its row: skipped (the runtime cannot
    do it) or failed (it broke), never an exception."""
    try:
        return measure(cell, repeats=repeats, warmups=warmups, bandwidth=bandwidth)
    except (Skip, ArchitectureError, UnsupportedOptionError) as exc:
        return {"status": "skipped", "error_type": type(exc).__name__, "error": str(exc)}
    except WhisperbenchError as exc:
        return {"status": "failed", "error_type": type(exc).__name__, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a runtime's own error: record, go on
        return {"status": "failed", "error_type": type(exc).__name__,
                "error": f"{runtime_name(cell.backend)}: {exc}"}


def cell_job(cell: CellSpec, repeats: int, warmups: int, bandwidth: dict[str, Any] | None) -> dict[str, Any]:
    """What `synthetic_process` needs to time `cell`, as JSON-ready data."""
    return {"cell": dataclasses.asdict(cell), "repeats": repeats, "warmups": warmups, "bandwidth": bandwidth}


def cell_from_job(job: dict[str, Any]) -> CellSpec:
    from whisperbench.conversion.checkpoint import Dims

    fields = dict(job["cell"])
    fields["arch"] = Architecture(**{**fields["arch"], "dims": Dims(**fields["arch"]["dims"])})
    return CellSpec(**fields)


def measure_isolated(cell: CellSpec, repeats: int, warmups: int, bandwidth: dict[str, Any] | None = None,
                     timeout_s: float | None = None) -> dict[str, Any]:
    """`measure_or_record` in a child process (`whisperbench.bench.synthetic_process`); a
    crash, a timeout or the out-of-memory killer becomes a failed row naming what happened."""
    from whisperbench.bench.child import child_env, describe_exit, stderr_tail

    env = child_env()
    job = json.dumps(cell_job(cell, repeats, warmups, bandwidth))
    runtime = runtime_name(cell.backend)
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run([sys.executable, "-m", "whisperbench.bench.synthetic_process"], input=job.encode(),
                                  stdout=subprocess.PIPE, stderr=err, env=env, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"status": "failed", "error_type": "Timeout",
                    "error": f"{runtime}: cell did not finish within {timeout_s:g} s (killed)",
                    "stderr_tail": stderr_tail(err)}
        lines = [ln for ln in proc.stdout.decode("utf-8", "replace").splitlines() if ln.strip()]
        if proc.returncode == 0 and lines:
            return json.loads(lines[-1])
        return {"status": "failed", "error_type": "Crash",
                "error": f"{runtime}: the cell's process {describe_exit(proc.returncode)}",
                "returncode": proc.returncode, "stderr_tail": stderr_tail(err)}


def _free(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        try:
            import torch

            torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001
            pass


def _runtime_version(backend: str) -> str:
    from whisperbench import backends

    return backends.adapter_class(backend).runtime_version()


def _identity(arch: Architecture) -> dict[str, Any]:
    return {
        "architecture": arch.name,
        "architecture_source": arch.source,
        "dims": arch.to_dict(),
        "parameters": arch.parameter_count(),
        "distilled": arch.distilled,
    }


def run(
    architectures: Sequence[str | Architecture],
    backends_: Sequence[str] | None = None,
    devices: Sequence[str] = ("cpu",),
    compute_types: Sequence[str] = ("default",),
    batch_sizes: Sequence[int] = (1,),
    decode_tokens: int = DEFAULT_DECODE_TOKENS,
    repeats: int = 3,
    warmups: int = 1,
    threads: int = 0,
    options: dict[str, Any] | None = None,
    output: str | Path | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    eot_eager: bool = False,
    isolate: bool = True,
    timeout_s: float | None = None,
    on_start: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Time every (architecture, backend, device, compute type, batch size); one row each
    (status ok / skipped / failed), appended to `output` as it is measured.

    `isolate` (default) times each cell in a process of its own: a runtime that crashes,
    hangs past `timeout_s` or runs out of memory becomes a failed row and the run goes
    on; memory peaks belong to that cell alone. `on_start` is called with each cell's
    identity before it starts (its weights may have to be built first), `progress` with
    each finished row."""
    from whisperbench import backends
    from whisperbench.bench import environment
    from whisperbench.bench.records import SyntheticRow
    from whisperbench.bench.store import ResultWriter

    archs = [a if isinstance(a, Architecture) else get_architecture(a) for a in architectures]
    for a in archs:
        a.validate()
    if backends_ is None:
        backends_ = [b for b in DEFAULT_BACKENDS if backends.is_installed(b)]
    run_id = uuid.uuid4().hex[:12]
    env = environment.snapshot()
    gpu = []
    if any(d.startswith("cuda") for d in devices):
        from whisperbench.gpu import gpu_state

        gpu = gpu_state()
    machine = env["machine"]
    common = {
        "record": RECORD, "dataset": "synthetic", "run_id": run_id,
        "hostname": machine["hostname"], "cpu_model": machine["cpu_model"],
        "cpus_logical": machine["cpu_count_logical"], "cpus_usable": machine["cpu_affinity"],
        "gpu_name": machine["gpu_name"], "gpu_driver": machine["gpu_driver"],
        "packages": env["packages"], "git_commit": env["git_commit"], "git_dirty": env["git_dirty"],
    }
    writer = ResultWriter(output) if output else None
    rows: list[dict[str, Any]] = []
    bandwidth: dict[str, dict[str, Any]] = {}  # device -> measured copy bandwidth, once per run
    try:
        if writer:
            writer.write({
                "record": RUN_RECORD, "run_id": run_id, "created": _now(), "machine": machine,
                "packages": env["packages"], "git_commit": env["git_commit"], "git_dirty": env["git_dirty"],
                "gpu_state": gpu, "settings": {
                    "architectures": [a.name for a in archs], "backends": list(backends_), "devices": list(devices),
                    "compute_types": list(compute_types), "batch_sizes": list(batch_sizes),
                    "decode_tokens": decode_tokens, "repeats": repeats, "warmups": warmups, "threads": threads,
                    "options": dict(options or {}),
                },
            })
        for device in devices:
            for backend in backends_:
                for compute_type in compute_types:
                    for arch in archs:
                        for b in batch_sizes:
                            cell = CellSpec(arch, backend, device, compute_type, b, decode_tokens, threads,
                                            dict(options or {}), eot_eager)
                            row = {**common, **_identity(arch), "backend": backend, "device": device,
                                   "compute_type": compute_type, "batch_size": b, "decode_tokens": decode_tokens}
                            if on_start:
                                on_start(row)
                            if isolate:
                                row.update(measure_isolated(cell, repeats, warmups, bandwidth.get(device),
                                                            timeout_s))
                            else:
                                row.update(measure_or_record(cell, repeats, warmups, bandwidth.get(device)))
                            if row["status"] == "ok" and device not in bandwidth:
                                bandwidth[device] = {"bandwidth_gbs": row["bandwidth_gbs"],
                                                     "method": row["bandwidth_method"]}
                            if device.startswith("cuda"):
                                from whisperbench.gpu import gpu_state

                                row["gpu_state"] = gpu_state()  # clocks right after the cell
                            row["timestamp"] = _now()
                            row = SyntheticRow.from_dict(row).to_dict()
                            rows.append(row)
                            if writer:
                                writer.write(row)
                            if progress:
                                progress(row)
    finally:
        if writer:
            writer.close()
    return rows


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def read_rows(paths) -> list[dict[str, Any]]:
    from whisperbench.bench.store import read_records

    return read_records(paths, (RECORD,))


# ----- relative latency and Markdown ---------------------------------------------------

GROUP = ("backend", "device", "compute_type", "batch_size", "decode_tokens")


def _ok(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("status") == "ok"]


def relative_latency(rows: Sequence[dict[str, Any]], reference: str | None = None,
                     pairs: Sequence[tuple[str, str]] | None = None) -> list[dict[str, Any]]:
    """The model card's "relative latency": reference latency / architecture latency, per
    (backend, device, compute type, batch size, decode length). Default pairs: the
    reference (default: the first architecture in `rows`) against every other one;
    `pairs=[(a, b), ...]` gives any pairs (a is the reference). Each ratio has a 95 %
    interval (`noise.ratio_interval`: the two cells are separate processes timed at
    different times) and says whether it is `distinguishable` from 1."""
    from whisperbench.bench import noise

    ok = _ok(rows)
    archs = list(dict.fromkeys(r["architecture"] for r in ok))
    if pairs is None:
        ref = reference or (archs[0] if archs else None)
        pairs = [(ref, a) for a in archs if a != ref]
    by_key: dict[tuple, dict[str, dict[str, Any]]] = {}
    for r in ok:
        by_key.setdefault(tuple(r[k] for k in GROUP), {})[r["architecture"]] = r
    out = []
    for key, per_arch in by_key.items():
        for a, b in pairs:
            if a not in per_arch or b not in per_arch:
                continue
            ra, rb = per_arch[a], per_arch[b]
            interval = noise.ratio_interval(
                [rb["total_seconds"]], [ra["total_seconds"]],
                spread_base=noise.log_sd(rb.get("total_seconds_all") or []),
                spread_cand=noise.log_sd(ra.get("total_seconds_all") or []))
            out.append({
                **dict(zip(GROUP, key)),
                "reference": a,
                "architecture": b,
                "reference_total_s": ra["total_seconds"],
                "total_s": rb["total_seconds"],
                "relative_latency": ra["total_seconds"] / rb["total_seconds"],
                "relative_latency_low": interval.low if interval else None,
                "relative_latency_high": interval.high if interval else None,
                "distinguishable": interval.distinguishable if interval else None,
                "timing_notes": [f"{x}: {m}" for x, r in ((a, ra), (b, rb)) for m in timing_marks(r)],
                "per_token_speedup": _ratio(ra["per_token_seconds"], rb["per_token_seconds"]),
                "encoder_speedup": _ratio(ra["encoder_seconds"], rb["encoder_seconds"]),
                "reference_roofline_ratio": ra.get("roofline_ratio"),
                "roofline_ratio": rb.get("roofline_ratio"),
            })
    return out


def timing_marks(row: dict[str, Any]) -> list[str]:
    """What makes a synthetic row's timing noise (loaded machine, wide spread), if anything."""
    from whisperbench.bench import noise

    return noise.judge_rows([row], cv=row.get("total_seconds_cv")).marks()


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _f(v: Any, fmt: str = "{:.3g}") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return fmt.format(v)
    return str(v)


def markdown(rows: Sequence[dict[str, Any]], reference: str | None = None) -> str:
    """Markdown: measurements with roofline columns, relative latency, skipped/failed cells."""
    lines = ["# Architecture timing (random weights, fixed decode length)", ""]
    ok = _ok(rows)
    if ok:
        r0 = ok[0]
        lines += [
            f"Decode length: {r0['decode_tokens']} tokens per item (EOT suppressed, greedy, no timestamps). "
            f"Memory bandwidth: " + ", ".join(sorted({f"{r['device']} {r['bandwidth_gbs']:.1f} GB/s ({r['bandwidth_method']})" for r in ok})) + ".",
            "",
            "| architecture | backend | device | compute | batch | encoder s | total s | ms/token | tokens/s "
            "| peak RSS MB | GPU peak MB | bound ms/token | measured/bound | total s min–max (CV) | timing |",
            "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in ok:
            cv = r.get("total_seconds_cv")
            spread = (f"{_f(r.get('total_seconds_min'))}–{_f(r.get('total_seconds_max'))}"
                      + (f" ({100 * cv:.0f}%)" if cv is not None else "")) if r.get("total_seconds_min") else "-"
            marks = timing_marks(r)
            lines.append(
                f"| {r['architecture']} | {r['backend']} | {r['device']} | {r['compute_type']} | {r['batch_size']} "
                f"| {_f(r['encoder_seconds'])} | {_f(r['total_seconds'])} | {_f(r['per_token_seconds'] * 1e3)} "
                f"| {_f(r.get('tokens_per_second'), '{:.1f}')} | {_f(r.get('peak_rss_mb'), '{:.0f}')} "
                f"| {_f(r.get('gpu_peak_mb'), '{:.0f}')} | {_f(r['bound_per_token_s'] * 1e3)} "
                f"| {_f(r.get('roofline_ratio'), '{:.2f}')} | {spread} | {'⚠️ ' + '; '.join(marks) if marks else 'ok'} |"
            )
        lines.append("")
    rel = relative_latency(rows, reference)
    lines += ["## Relative latency", ""]
    if rel:
        lines += [
            "reference latency / architecture latency (the model card's column: > 1 means faster than the reference), "
            "with a 95% interval that allows for run-to-run drift between the two cells (see "
            "`whisperbench.bench.noise`); a ratio whose interval includes 1 is not a finding",
            "",
            "| backend | device | compute | batch | reference | architecture | reference total s | total s "
            "| relative latency [95% CI] | per-token speed-up | encoder speed-up | timing |",
            "|---|---|---|---:|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in rel:
            ratio = f"{_f(r['relative_latency'], '{:.2f}')}x"
            if r.get("relative_latency_low") is not None:
                ratio += f" [{r['relative_latency_low']:.2f}, {r['relative_latency_high']:.2f}]"
                if not r["distinguishable"]:
                    ratio += " not distinguishable"
            notes = r.get("timing_notes") or []
            lines.append(
                f"| {r['backend']} | {r['device']} | {r['compute_type']} | {r['batch_size']} | {r['reference']} "
                f"| {r['architecture']} | {_f(r['reference_total_s'])} | {_f(r['total_s'])} "
                f"| {ratio} | {_f(r['per_token_speedup'], '{:.2f}')}x "
                f"| {_f(r['encoder_speedup'], '{:.2f}')}x | {'⚠️ ' + '; '.join(notes) if notes else 'ok'} |"
            )
    else:
        lines.append("(needs at least two architectures measured in the same backend configuration)")
    bad = [r for r in rows if r.get("status") != "ok"]
    if bad:
        lines += ["", "## Not measured", ""]
        for r in bad:
            lines.append(f"- {r.get('architecture')} / {r.get('backend')} / {r.get('device')} / {r.get('compute_type')} "
                         f"/ batch {r.get('batch_size')}: **{r['status']}**: {r.get('error')}")
    return "\n".join(lines) + "\n"
