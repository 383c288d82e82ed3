"""CTranslate2's synthetic-timing primitives, on the `ctranslate2.models.Whisper` the adapter's
faster-whisper loads: `Whisper.generate(max_length=2N, suppress_tokens=[-1, EOT])` (its
Whisper generates at most max_length // 2 new tokens, measured with 4.8.5; EOT suppressed);
the decoder alone is `generate` given the kept encoder output."""

from __future__ import annotations

import time

import numpy as np

from whisperbench.backends.ctranslate2.load import load_model
from whisperbench.backends.synthetic_base import Inputs, SyntheticPrimitives


class CTranslate2Primitives(SyntheticPrimitives):
    backend = "ctranslate2"
    method = "Whisper.generate(max_length=2N, suppress_tokens=[-1, EOT])"
    compute_types = ("float32", "float16", "bfloat16", "int8", "int8_float32", "int8_float16", "int8_bfloat16")
    half_context_sampling = True

    @classmethod
    def storage_quantization(cls, compute_type: str) -> str:
        if compute_type == "float32":
            return "float32"
        return "int8" if compute_type.startswith("int8") else "float16"

    def load(self) -> None:
        import ctranslate2

        self.ct2 = ctranslate2
        self.model = load_model(str(self.path), self.device, self.compute_type, self.threads, True, str(self.path)).model

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
