"""whisper.cpp's synthetic-timing primitives: `whisper_full` with `max_tokens=N-1` (it stops
after max_tokens + 1), one segment, no fallback. pywhispercpp cannot pass a logits filter
(its callback gets no logits array), so end-of-text is suppressed with
`suppress_regex="\\[_EOT_\\]"` only when the model emits it early: that regex is run over
the whole vocabulary at every step and costs tens of ms per token on a CPU, so a row says
which method it used. Batches > 1 are skipped: whisper_full decodes one window.
`whisper_full` cannot start from an encoder output, so the decoder's time is whisper.cpp's
own timings of the last `whisper_full` (prompt + decode + batched decode + sampling)."""

from __future__ import annotations

import re
import tempfile
import time

import numpy as np

from whisperbench.backends.synthetic_base import Inputs, Skip, SyntheticError, SyntheticPrimitives
from whisperbench.backends.whispercpp.adapter import GGML_TYPES
from whisperbench.backends.whispercpp.load import default_threads, load_model, stderr_to

DECODER_TIMINGS = ("prompt", "decode", "batchd", "sample")
EOT_REGEX = r"\[_EOT_\]"


def runtime_timings(pw, ctx) -> dict[str, float]:
    """whisper.cpp's own timings (seconds by name: mel, sample, encode, decode, batchd,
    prompt, total) since the last whisper_reset_timings, read from what
    whisper_print_timings writes to stderr (pywhispercpp has no getter)."""
    with tempfile.TemporaryFile() as fh:
        with stderr_to(fh.fileno()):
            pw.whisper_print_timings(ctx)
        fh.seek(0)
        text = fh.read().decode("utf-8", "replace")
    return {m.group(1): float(m.group(2)) / 1000
            for m in re.finditer(r"(\w+) time =\s*([0-9.]+) ms", text)}


class WhisperCppPrimitives(SyntheticPrimitives):
    backend = "whispercpp"
    method = "whisper_full(max_tokens=N-1)"
    decoder_method = "whisper.cpp's own timings of whisper_full: prompt + decode + batchd + sample"
    compute_types = GGML_TYPES
    standard_ffn_only = True
    max_text_ctx = 448
    half_context_sampling = True

    @classmethod
    def storage_quantization(cls, compute_type: str) -> str:
        return "float16" if compute_type == "f16" else compute_type

    def load(self) -> None:
        import _pywhispercpp as pw

        self.pw = pw
        self.n_threads = default_threads(self.threads)
        self.wrapper = load_model(str(self.path), self.n_threads, self.device)
        self.ctx = self.wrapper._ctx
        if self.ctx is None:
            raise SyntheticError(f"whisper.cpp could not load {self.path}")
        self.eot = pw.whisper_token_eot(self.ctx)
        self.suppress_regex = ""
        self.mel_seconds = 0.0
        self.timings: dict[str, float] = {}
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
        self.timings = runtime_timings(pw, self.ctx)
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
        t = self.timings
        missing = [k for k in DECODER_TIMINGS if k not in t]
        if missing:
            raise SyntheticError(f"whisper.cpp: whisper_print_timings gave no {', '.join(missing)} time ({t})")
        return sum(t[k] for k in DECODER_TIMINGS), self.lengths

    def force_length(self) -> bool:
        if self.suppress_regex:
            return False
        self.suppress_regex = EOT_REGEX
        self.method = f"whisper_full(max_tokens=N-1, suppress_regex={EOT_REGEX!r}) (regex costs time per token)"
        return True

    def timing_extra(self) -> dict:
        return {"mel_seconds_excluded": self.mel_seconds, "whispercpp_timings": self.timings}

    def close(self) -> None:
        self.wrapper = self.ctx = None
