"""CTranslate2 through faster-whisper: `WhisperModel.transcribe` (short, sequential) and
`BatchedInferencePipeline` (chunked)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from whisperbench.audio import SAMPLE_RATE
from whisperbench.backends.base import Backend, Capabilities, RawResult, device_kind, locate_model
from whisperbench.errors import ModelError, UnsupportedOptionError
from whisperbench.options import DecodeOptions, LoadOptions
from whisperbench.results import Segment, Word


class CTranslate2Backend(Backend):
    name = "ctranslate2"
    runtime_packages = ('faster-whisper', 'ctranslate2')
    capabilities = Capabilities(
        model_format="ctranslate2",
        algorithms={
            "short": "faster_whisper.WhisperModel.transcribe (one window)",
            "sequential": "faster_whisper.WhisperModel.transcribe",
            "chunked": "faster_whisper.BatchedInferencePipeline",
        },
        compute_types={
            "cpu": ("float32", "int8", "int8_float32"),
            "cuda": ("float16", "int8_float16", "bfloat16", "int8_bfloat16", "int8", "int8_float32", "float32"),
        },
        batching=False,
        word_timestamps=True,
        extra_options={
            "chunking": "chunked algorithm: 'vad' (default; faster-whisper's Silero VAD splits speech into "
            "<= chunk_length_s pieces) or 'fixed' (contiguous chunk_length_s windows, no VAD)",
        },
        notes=(
            "chunked: faster-whisper's batched pipeline decodes at temperatures[0] only (no fallback), "
            "chunk_length_s must be a whole number of seconds, chunks do not overlap; with timestamps on "
            "it drops an unfinished last segment per chunk (use --no-timestamps for chunked WER)",
        ),
    )

    @classmethod
    def _device_available(cls, kind: str) -> bool:
        if kind == "cpu":
            return True
        if kind == "cuda":
            import ctranslate2

            return ctranslate2.get_cuda_device_count() > 0
        return False

    @classmethod
    def _check_backend_options(cls, options: DecodeOptions) -> None:
        if options.algorithm != "chunked":
            return
        if options.uses_fallback or options.best_of > 1:
            raise UnsupportedOptionError(
                "backend 'ctranslate2' cannot honour temperature fallback with algorithm='chunked': "
                "faster-whisper's BatchedInferencePipeline decodes at the first temperature only"
            )
        if float(options.chunk_length_s) != int(options.chunk_length_s):
            raise UnsupportedOptionError(
                f"backend 'ctranslate2' cannot honour chunk_length_s={options.chunk_length_s}: "
                "faster-whisper takes whole seconds"
            )

    def _load(self, model: str, load_options: LoadOptions) -> None:
        import ctranslate2
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.location = locate_model(model, "ctranslate2", self.name)
        if self.location.path is not None and not (Path(self.location.path) / "tokenizer.json").exists():
            raise ModelError(f"{self.location.path} has no tokenizer.json (faster-whisper would try to download one)")
        local = self.location.path is not None
        where = self.location.path if local else self.location.hub_id
        device = load_options.device
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        if device_kind(device) == "cuda":  # cuBLAS 12 preflight: a clear error instead of one at first decode
            from whisperbench.gpu import check_ctranslate2_cuda

            check_ctranslate2_cuda()
        try:
            self.model = WhisperModel(
                where,
                device=device_kind(device),
                device_index=index,
                compute_type=load_options.compute_type,
                cpu_threads=load_options.threads,
                local_files_only=local,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(f"cannot load CTranslate2 model {model!r}: {exc}") from None
        except Exception as exc:  # hub errors come in many types
            if local:
                raise
            raise ModelError(f"cannot download or load {model!r}: {type(exc).__name__}: {exc}") from None
        self.batched = BatchedInferencePipeline(model=self.model)
        self.chunking = load_options.extra.get("chunking", "vad")
        if self.chunking not in ("vad", "fixed"):
            raise UnsupportedOptionError(f"chunking={self.chunking!r}: choose 'vad' or 'fixed'")
        self.multilingual = self.model.model.is_multilingual
        self.eot = self.model.hf_tokenizer.token_to_id("<|endoftext|>")
        self._ct2_version = ctranslate2.__version__

    def _common_kwargs(self, options: DecodeOptions) -> dict:
        return dict(
            language=options.language,
            task=options.task,
            beam_size=options.beam_size,
            best_of=options.best_of,
            temperature=list(options.temperatures),
            compression_ratio_threshold=options.compression_ratio_threshold,
            log_prob_threshold=options.logprob_threshold,
            no_speech_threshold=options.no_speech_threshold,
            condition_on_previous_text=options.condition_on_previous_text,
            without_timestamps=not options.timestamps,
            word_timestamps=options.word_timestamps,
            max_new_tokens=options.max_new_tokens,
            vad_filter=False,
        )

    def _transcribe(self, samples: np.ndarray, options: DecodeOptions) -> RawResult:
        kwargs = self._common_kwargs(options)
        if options.algorithm == "chunked":
            clips = None
            if self.chunking == "fixed":  # contiguous windows, in seconds as faster-whisper takes them
                step = int(options.chunk_length_s * SAMPLE_RATE)
                clips = [
                    {"start": s / SAMPLE_RATE, "end": min(s + step, len(samples)) / SAMPLE_RATE}
                    for s in range(0, len(samples), step)
                ]
            kwargs["vad_filter"] = self.chunking == "vad"
            generator, info = self.batched.transcribe(
                samples,
                batch_size=options.batch_size,
                chunk_length=int(options.chunk_length_s),
                clip_timestamps=clips,
                **kwargs,
            )
        else:
            generator, info = self.model.transcribe(samples, **kwargs)
        segments = [self._segment(s) for s in generator]  # the decode happens here
        return RawResult(segments=segments, language=info.language, language_probability=info.language_probability)

    def _segment(self, s) -> Segment:
        words = None
        if s.words is not None:
            words = tuple(Word(w.start, w.end, w.word, w.probability) for w in s.words)
        return Segment(
            start=float(s.start),
            end=float(s.end),
            text=s.text,
            tokens=tuple(t for t in s.tokens if t < self.eot),
            avg_logprob=s.avg_logprob,
            no_speech_prob=s.no_speech_prob,
            compression_ratio=s.compression_ratio,
            temperature=s.temperature,
            words=words,
        )

    def describe(self) -> dict:
        return {**super().describe(), **self.location.describe()}

    def close(self) -> None:
        self.batched = None
        self.model = None
