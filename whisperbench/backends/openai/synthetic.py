"""openai-whisper's synthetic-timing primitives: `Whisper.decode` with `sample_len=N,
suppress_tokens=[-1, EOT]`; the decoder alone is `decode` given the kept encoder output
([B, n_audio_ctx, n_audio_state] features skip the encoder). Loaded as the adapter loads."""

from __future__ import annotations

import time

from whisperbench.backends import torch_common
from whisperbench.backends.openai.load import load_model
from whisperbench.backends.synthetic_base import Inputs, SyntheticPrimitives


class OpenAIPrimitives(torch_common.TorchAllocatorPeak, SyntheticPrimitives):
    backend = "openai"
    method = "Whisper.decode(sample_len=N, suppress_tokens=[-1, EOT])"
    compute_types = ("float32", "float16")
    standard_ffn_only = True
    half_context_sampling = True

    @classmethod
    def storage_quantization(cls, compute_type: str) -> str:
        return "float32"  # openai-whisper keeps float32 weights either way (see load.load_model)

    def load(self) -> None:
        import torch
        import whisper

        self.torch, self.whisper = torch, whisper
        self._threads_before = torch_common.set_threads(self.threads)
        self.model = load_model(str(self.path), self.device, str(self.path))
        self.fp16 = self.compute_type == "float16"
        self.extra = {"weights_dtype": "float32 (cast per call when fp16)" if self.fp16 else "float32"}

    def prepare(self, inputs: Inputs) -> None:
        mel = self.torch.from_numpy(inputs.features).to(self.device)
        self.mel = mel.half() if self.fp16 else mel
        torch_common.synchronize(self.device)

    def encode(self) -> float:
        with self.torch.inference_mode():
            t0 = time.perf_counter()
            self.encoded = self.model.encoder(self.mel)
            torch_common.synchronize(self.device)
            return time.perf_counter() - t0

    def generate(self, n: int) -> tuple[float, list[int]]:
        return self._decode(n, self.mel)

    def decode(self, n: int) -> tuple[float, list[int]]:
        return self._decode(n, self.encoded)

    def _decode(self, n: int, inputs) -> tuple[float, list[int]]:
        opts = self.whisper.DecodingOptions(
            language="en", task="transcribe", without_timestamps=True, sample_len=n,
            suppress_tokens=[-1, self.special.eot], fp16=self.fp16,
        )
        with self.torch.inference_mode():
            t0 = time.perf_counter()
            results = self.model.decode(inputs, opts)
            torch_common.synchronize(self.device)
            dt = time.perf_counter() - t0
        return dt, [len(r.tokens) for r in results]

    def close(self) -> None:
        self.model = self.mel = self.encoded = None
        self.torch.set_num_threads(self._threads_before)  # torch's thread count is process-wide
        torch_common.release_cuda_cache(self.device)
