"""Transformers' synthetic-timing primitives: `generate(min_new_tokens=N, max_new_tokens=N)`
(min_new_tokens masks end-of-text); the decoder alone is `generate(encoder_outputs=...)` from
the kept encoder output. Loaded as the adapter loads (`transformers.load`)."""

from __future__ import annotations

import time
from typing import Any

from whisperbench.backends import torch_common
from whisperbench.backends.synthetic_base import Inputs, SyntheticPrimitives
from whisperbench.backends.transformers.load import (
    OPTION_HELP,
    attention,
    compile_forward,
    compile_settings,
    from_pretrained,
)


class TransformersPrimitives(torch_common.TorchAllocatorPeak, SyntheticPrimitives):
    backend = "transformers"
    method = "generate(min_new_tokens=N, max_new_tokens=N)"
    compute_types = ("float32", "float16", "bfloat16")
    option_help = OPTION_HELP

    def load(self) -> None:
        import torch
        import transformers

        transformers.logging.set_verbosity_error()
        self.torch = torch
        self._threads_before = torch_common.set_threads(self.threads)
        attn = attention(self.options, self.kind, self.compute_type)
        compile_, mode = compile_settings(self.options)
        self.dtype = getattr(torch, self.compute_type)
        self.model = from_pretrained(str(self.path), True, str(self.path), attn, dtype=self.dtype)
        self.model.to(self.device).eval()
        if compile_:
            compile_forward(self.model, mode)
        self.extra = {"attn_implementation": attn, "torch_compile": compile_, "compile_mode": mode,
                      "cache_implementation": "static" if compile_ else "dynamic"}

    def prepare(self, inputs: Inputs) -> None:
        self.features = self.torch.from_numpy(inputs.features).to(self.device, dtype=self.dtype)
        torch_common.synchronize(self.device)

    def encode(self) -> float:
        with self.torch.inference_mode():
            t0 = time.perf_counter()
            self.encoded = self.model.model.encoder(self.features)
            torch_common.synchronize(self.device)
            return time.perf_counter() - t0

    def generate(self, n: int) -> tuple[float, list[int]]:
        return self._generate(n, input_features=self.features)

    def decode(self, n: int) -> tuple[float, list[int]]:
        return self._generate(n, encoder_outputs=self.encoded)

    def _generate(self, n: int, **inputs: Any) -> tuple[float, list[int]]:
        kwargs: dict[str, Any] = dict(max_new_tokens=n, min_new_tokens=n, num_beams=1, do_sample=False,
                                      return_timestamps=False)
        if self.dims.multilingual:
            kwargs.update(language="en", task="transcribe")
        with self.torch.inference_mode():
            t0 = time.perf_counter()
            out = self.model.generate(**inputs, **kwargs)
            torch_common.synchronize(self.device)
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
        torch_common.release_cuda_cache(self.device)
