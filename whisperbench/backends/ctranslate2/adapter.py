"""CTranslate2 through faster-whisper: `WhisperModel.transcribe` (short, sequential) and,
for chunked long-form, one of three implementations chosen by `-O chunking=`:

- `vad` (default): faster-whisper's `BatchedInferencePipeline` with its Silero VAD
  segmentation, as its authors intend. With timestamps on, faster-whisper 1.2.1 leaves the
  rest of a chunk untranscribed where the model says "continue from here" (see
  `_batched_pipeline_class`); we decode that rest, as the sequential algorithm would.
- `fixed`: the same pipeline on contiguous `chunk_length_s` windows (no VAD).
- `whisperbench`: the shared chunking layer (overlapping windows, merged), each batch of
  windows decoded by one `ctranslate2.models.Whisper.generate` call.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from whisperbench.audio import SAMPLE_RATE
from whisperbench.backends import chunking, word_timing
from whisperbench.backends.base import Backend, Capabilities, RawResult, locate_model
from whisperbench.backends.ctranslate2 import SPEC
from whisperbench.backends.ctranslate2.load import check_cuda, cuda_devices, load_model
from whisperbench.errors import ModelError, UnsupportedOptionError
from whisperbench.options import DecodeOptions, LoadOptions
from whisperbench.results import Segment, Word

PIPELINE = "faster_whisper.BatchedInferencePipeline"
CHUNKING = {
    "vad": f"{PIPELINE} (Silero VAD chunks; with timestamps, unfinished chunk ends re-decoded)",
    "fixed": f"{PIPELINE} (contiguous chunk_length_s windows; with timestamps, unfinished chunk ends re-decoded)",
    "whisperbench": chunking.implementation("ctranslate2.models.Whisper.generate, batched"),
}


def resume_time(tokens: list[int], timestamp_begin: int, time_precision: float = 0.02) -> float | None:
    """Seconds into a window where Whisper's sequential algorithm would decode again, or None.

    This is `WhisperModel._split_segments_by_timestamps`' rule: when the tokens hold
    consecutive timestamp pairs and do not end in a single timestamp, the window is
    unfinished (speech runs on past it, or the model stopped at a segment boundary and
    left the rest for the next window) and decoding resumes at the last pair's first
    timestamp; the text after that pair, if any, is not kept."""
    pairs = [i for i in range(1, len(tokens)) if tokens[i] >= timestamp_begin and tokens[i - 1] >= timestamp_begin]
    single_ending = len(tokens) >= 2 and tokens[-2] < timestamp_begin <= tokens[-1]
    if not pairs or single_ending:
        return None
    return (tokens[pairs[-1] - 1] - timestamp_begin) * time_precision


MIN_RESUME_SECONDS = 0.1  # a shorter rest of a chunk holds no word to decode


def _batched_pipeline_class():
    from faster_whisper import BatchedInferencePipeline
    from faster_whisper.audio import pad_or_trim

    class ResumingPipeline(BatchedInferencePipeline):
        """faster-whisper's batched pipeline, decoding each chunk to its end.

        `BatchedInferencePipeline.forward` (faster-whisper 1.2.1) splits each chunk's tokens
        with `WhisperModel._split_segments_by_timestamps`, the *sequential* algorithm's
        splitter, and discards the `seek` it returns. With timestamps on, a chunk whose
        tokens end at a segment boundary (`<|t|><|t|>` then end-of-text) or in unfinished
        text means "decode again from t": Whisper leaves speech it cannot finish in this
        window for the next one. The sequential loop does; the batched pipeline never does,
        so the audio from t to the chunk's end goes untranscribed (27 deletions on a
        4-minute read). We decode that rest as the sequential algorithm would: the chunk's
        features from t, padded, as one more batched pass (again until no chunk is left
        unfinished). Each pass goes through the pipeline's own `forward`, so segment
        splitting and word alignment are faster-whisper's."""

        resumed = 0
        chunk_seeks: set[int] = set()  # `seek` of the segments decoded from each chunk's start

        def generate_segment_batched(self, features, tokenizer, options):
            self._last_tokens = None
            encoder_output, outputs = super().generate_segment_batched(features, tokenizer, options)
            self._last_tokens = [list(o["tokens"]) for o in outputs]
            return encoder_output, outputs

        def forward(self, features, tokenizer, chunks_metadata, options):
            segmented = super().forward(features, tokenizer, chunks_metadata, options)
            fps = self.model.frames_per_second
            self.chunk_seeks.update(int(m["offset"] * fps) for m in chunks_metadata if "resumed_at" not in m)
            rest = []
            for i, (meta, tokens) in enumerate(zip(chunks_metadata, self._last_tokens)):
                t = resume_time(tokens, tokenizer.timestamp_begin, self.model.time_precision)
                if t is not None and t > 0 and meta["duration"] - t >= MIN_RESUME_SECONDS:
                    rest.append((i, t))
            if not rest:
                return segmented
            self.resumed += len(rest)
            feats = np.stack([pad_or_trim(features[i][:, int(round(t * fps)):]) for i, t in rest])
            metas = [
                {**chunks_metadata[i], "offset": chunks_metadata[i]["offset"] + t,
                 "duration": chunks_metadata[i]["duration"] - t, "resumed_at": t}
                for i, t in rest
            ]
            for (i, _), more in zip(rest, self.forward(feats, tokenizer, metas, options)):
                segmented[i] = list(segmented[i]) + list(more)
            return segmented

    return ResumingPipeline


class CTranslate2Backend(Backend):
    name = "ctranslate2"
    runtime_packages = SPEC.packages
    capabilities = Capabilities(
        model_format=SPEC.weight_format,
        algorithms={
            "short": "faster_whisper.WhisperModel.transcribe (one window)",
            "sequential": "faster_whisper.WhisperModel.transcribe",
            "chunked": CHUNKING["vad"],
        },
        compute_types={
            "cpu": ("float32", "int8", "int8_float32"),
            "cuda": ("float16", "int8_float16", "bfloat16", "int8_bfloat16", "int8", "int8_float32", "float32"),
        },
        batching=True,
        batch_implementation="ctranslate2.models.Whisper.generate (a batch of short-form windows, temperatures[0])",
        word_timestamps=True,
        word_timing=word_timing.DTW,
        runtime_vad="faster_whisper vad_filter (Silero VAD, onnxruntime)",
        extra_options={
            "chunking": "chunked algorithm: 'vad' (default; faster-whisper's BatchedInferencePipeline, its "
            "Silero VAD splits speech into <= chunk_length_s pieces), 'fixed' (the same pipeline on contiguous "
            "chunk_length_s windows, no VAD) or 'whisperbench' (the shared overlapping-chunk layer, batches "
            "decoded by ctranslate2's generate)",
        },
        notes=(
            "chunked: decodes at temperatures[0] only (no fallback); chunks decode in batches of batch_size",
            "chunked 'vad'/'fixed': chunk_length_s must be a whole number of seconds, chunks do not overlap, "
            "and faster-whisper's pipeline applies no no-speech/log-prob thresholds; with timestamps on, "
            "faster-whisper 1.2.1 leaves the rest of an unfinished chunk untranscribed, which whisperbench "
            "decodes in another batched pass (extra['chunk_ends_redecoded']); with timestamps off nothing marks "
            "an unfinished chunk: 'fixed' then loses the speech after an early end of text (tiny.en: 118 of "
            "357 words on the sonnets join), 'vad' cuts in pauses and does not",
        ),
    )

    @classmethod
    def _device_available(cls, kind: str) -> bool:
        return kind == "cpu" or (kind == "cuda" and cuda_devices() > 0)

    @classmethod
    def _device_problem(cls, kind: str) -> str | None:
        if kind == "cuda":
            try:
                check_cuda()  # also preloads a pip-installed cuBLAS 12
            except UnsupportedOptionError as exc:
                return str(exc)
        return super()._device_problem(kind)

    @classmethod
    def _check_backend_options(cls, options: DecodeOptions) -> None:
        if options.algorithm != "chunked":
            return
        if options.vad == "runtime":
            raise UnsupportedOptionError(
                "backend 'ctranslate2' cannot honour vad='runtime' with algorithm='chunked': the chunked "
                "pipeline places its chunks with its own VAD already (chunking='vad'); use vad='silero'"
            )
        if options.uses_fallback or options.best_of > 1:
            raise UnsupportedOptionError(
                "backend 'ctranslate2' cannot honour temperature fallback with algorithm='chunked': "
                "every chunked implementation here decodes each chunk once, at the first temperature"
            )

    @classmethod
    def _check_batch_options(cls, options: DecodeOptions) -> None:
        cls._short_batches_only(options)

    def _check_model_options(self, options: DecodeOptions) -> None:
        super()._check_model_options(options)
        if options.algorithm != "chunked" or self.chunking == "whisperbench":
            return
        if float(options.chunk_length_s) != int(options.chunk_length_s):
            raise UnsupportedOptionError(
                f"backend 'ctranslate2' cannot honour chunk_length_s={options.chunk_length_s} with "
                f"chunking={self.chunking!r}: faster-whisper's pipeline takes whole seconds "
                "(chunking='whisperbench' takes any length)"
            )

    def _count_tokens(self, text: str) -> int:
        return len(self.model.hf_tokenizer.encode(text, add_special_tokens=False).ids)

    def _quiet_runtime(self) -> None:
        import huggingface_hub.utils

        huggingface_hub.utils.disable_progress_bars()  # faster-whisper's download of a hub model

    def _load(self, model: str, load_options: LoadOptions) -> None:
        import ctranslate2

        self.location = locate_model(model, "ctranslate2", self.name)
        if self.location.path is not None and not (Path(self.location.path) / "tokenizer.json").exists():
            raise ModelError(f"{self.location.path} has no tokenizer.json (faster-whisper would try to download one)")
        local = self.location.path is not None
        where = self.location.path if local else self.location.hub_id
        self.model = load_model(where, load_options.device, load_options.compute_type, load_options.threads, local,
                                model)
        self.chunking = chunking.choose(self, CHUNKING, "vad")
        self.batched = _batched_pipeline_class()(model=self.model)
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
            # WhisperModel.transcribe: the first window's context; BatchedInferencePipeline: every
            # chunk's (which encodes the text as given: hence the leading space, as transcribe adds it).
            initial_prompt=options.prompt_text,
            vad_filter=options.vad == "runtime",
            vad_parameters=dict(threshold=options.vad_threshold, min_silence_duration_ms=options.vad_min_silence_ms,
                                speech_pad_ms=options.vad_speech_pad_ms) if options.vad == "runtime" else None,
        )

    def _transcribe(self, samples: np.ndarray, options: DecodeOptions) -> RawResult:
        if options.algorithm == "chunked" and self.chunking == "whisperbench":
            segments, first, extra = chunking.transcribe_chunked(samples, options, self._decode_windows)
            return RawResult(segments=segments, language=first.language,
                             language_probability=first.language_probability, extra=extra)
        kwargs = self._common_kwargs(options)
        extra = {}
        if options.algorithm == "chunked":
            clips = None
            if self.chunking == "fixed":  # contiguous windows, in seconds as faster-whisper takes them
                step = int(options.chunk_length_s * SAMPLE_RATE)
                clips = [
                    {"start": s / SAMPLE_RATE, "end": min(s + step, len(samples)) / SAMPLE_RATE}
                    for s in range(0, len(samples), step)
                ]
            kwargs["vad_filter"] = self.chunking == "vad"
            self.batched.resumed = 0
            self.batched.chunk_seeks = set()
            generator, info = self.batched.transcribe(
                samples,
                batch_size=options.batch_size,
                chunk_length=int(options.chunk_length_s),
                clip_timestamps=clips,
                **kwargs,
            )
        else:
            generator, info = self.model.transcribe(samples, **kwargs)
        raw = list(generator)  # the decode happens here
        segments = [self._segment(s) for s in raw]
        if options.algorithm == "chunked":
            extra["chunk_ends_redecoded"] = self.batched.resumed
            if clips is not None:
                extra["window_boundaries"] = [c["start"] for c in clips[1:]]
            else:
                # Where one VAD chunk hands over to the next, in the input's time: the start
                # of the first segment decoded from each later chunk's beginning (faster-whisper
                # maps chunk times back to the input's but does not return the chunks).
                firsts: dict[int, float] = {}
                for seg in raw:
                    if seg.seek in self.batched.chunk_seeks:
                        firsts.setdefault(seg.seek, float(seg.start))
                extra["window_boundaries"] = sorted(firsts.values())[1:]
        return RawResult(segments=segments, language=info.language, language_probability=info.language_probability,
                         extra=extra)

    def _decode_windows(self, windows: list[np.ndarray], options: DecodeOptions) -> list[chunking.WindowResult]:
        """Decode up to 30 s windows in one `generate` call (the shared layer's decoder):
        features as faster-whisper computes them, at temperatures[0]; a window whose
        no-speech probability exceeds the threshold (with a low log-probability) is silence."""
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens

        fw = self.model
        features = np.stack([pad_or_trim(fw.feature_extractor(w)[..., :-1]) for w in windows])
        encoder_output = fw.encode(features)
        if options.language is not None:
            languages = [options.language] * len(windows)
            probs = [None] * len(windows)
        else:
            detected = fw.model.detect_language(encoder_output)
            languages = [d[0][0].strip("<|>") for d in detected]
            probs = [float(d[0][1]) for d in detected]
        tokenizers = [Tokenizer(fw.hf_tokenizer, self.multilingual, task=options.task, language=lang)
                      for lang in languages]
        prompts = [fw.get_prompt(t, self._prompt_tokens(t, options), without_timestamps=not options.timestamps)
                   for t in tokenizers]
        temperature = options.temperatures[0]
        sampling = dict(sampling_temperature=temperature, sampling_topk=0) if temperature > 0 else {}
        results = fw.model.generate(
            encoder_output,
            prompts,
            beam_size=options.beam_size,
            max_length=fw.max_length if options.max_new_tokens is None else len(prompts[0]) + options.max_new_tokens,
            suppress_blank=True,
            suppress_tokens=list(get_suppressed_tokens(tokenizers[0], [-1])),
            return_scores=True,
            return_no_speech_prob=True,
            **sampling,
        )
        lpt, nst = options.logprob_threshold, options.no_speech_threshold
        out = []
        for w, tok, r, lang, prob in zip(windows, tokenizers, results, languages, probs):
            tokens = r.sequences_ids[0]
            avg_logprob = r.scores[0] * len(tokens) / (len(tokens) + 1)  # faster-whisper's, length_penalty 1
            silence = nst is not None and r.no_speech_prob > nst and not (lpt is not None and avg_logprob > lpt)
            segments = [] if silence else chunking.segments_from_tokens(
                tokens, tok.timestamp_begin, tok.eot, tok.decode, len(w) / SAMPLE_RATE,
                avg_logprob=float(avg_logprob), no_speech_prob=float(r.no_speech_prob),
                compression_ratio=get_compression_ratio(tok.decode(tokens)), temperature=temperature,
            )
            out.append(chunking.WindowResult(segments, language=lang, language_probability=prob))
        if options.word_timestamps:
            self._add_words(out, features, encoder_output, windows, tokenizers[0])
        return out

    @staticmethod
    def _prompt_tokens(tokenizer, options: DecodeOptions) -> list[int]:
        """initial_prompt as previous tokens, encoded as WhisperModel.transcribe encodes it
        (get_prompt keeps the last MAX_PROMPT_TOKENS)."""
        return [] if options.prompt_text is None else tokenizer.encode(options.prompt_text)

    def _add_words(self, results: list[chunking.WindowResult], features: np.ndarray, encoder_output,
                   windows: list[np.ndarray], tokenizer) -> None:
        """Time the words of each window's segments with faster-whisper's own alignment
        (`WhisperModel.add_word_timestamps`: DTW over the alignment heads' cross-attention,
        as its transcribe does), all windows in one batch. Windows without speech have no
        tokens to align: the others are encoded again without them."""
        import inspect

        fw = self.model
        have = [i for i, r in enumerate(results) if r.segments]
        if not have:
            return
        enc = encoder_output if len(have) == len(results) else fw.encode(features[have])
        dicts = [[{"seek": 0, "start": s.start, "end": s.end, "tokens": list(s.tokens)} for s in results[i].segments]
                 for i in have]
        defaults = inspect.signature(fw.transcribe).parameters
        fw.add_word_timestamps(dicts, tokenizer, enc, [len(windows[i]) // fw.feature_extractor.hop_length for i in have],
                               defaults["prepend_punctuations"].default, defaults["append_punctuations"].default, 0.0)
        for i, segs in zip(have, dicts):
            results[i].segments = [
                dataclasses.replace(s, start=float(d["start"]), end=float(d["end"]), words=tuple(
                    Word(float(w["start"]), float(w["end"]), w["word"], float(w["probability"]))
                    for w in d.get("words", [])))
                for s, d in zip(results[i].segments, segs)]

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
