"""Hugging Face Transformers (PyTorch): `WhisperForConditionalGeneration`.

- short: `generate` on one padded 30 s window;
- sequential: `generate` over the whole (unpadded) input features, which runs Whisper's
  sliding-window long-form algorithm with `condition_on_prev_tokens`, temperature
  fallback and the compression-ratio / log-prob / no-speech thresholds;
- chunked, `-O chunking=pipeline` (default): `pipeline("automatic-speech-recognition",
  chunk_length_s=..., batch_size=...)` with its default stride (chunk_length_s / 6 on each
  side), as the Distil-Whisper model card runs it; its merge aligns the overlapping tokens;
- chunked, `-O chunking=whisperbench`: the shared chunking layer, each batch of windows
  decoded by one `generate` call (`_decode_windows`).

With no language given, a multilingual model's language is detected from the first 30 s
(`_detect_languages`: transformers' `detect_language`, keeping the probability it discards)
and passed to `generate` / the pipeline, which then detect nothing themselves.

Load options: dtype via the compute type (float32 / float16 / bfloat16; `int8` on CPU
is `torch.ao.quantization.quantize_dynamic` of the Linear layers; `int8` / `nf4` on CUDA
is bitsandbytes), `-O attn_implementation=eager|sdpa|flash_attention_2`,
`-O torch_compile=true`, `-O assistant_model=MODEL` (speculative decoding).
"""

from __future__ import annotations

import contextlib
import importlib.util

import numpy as np

from whisperbench.audio import SAMPLE_RATE
from whisperbench.backends import chunking, torch_common, word_timing
from whisperbench.backends.base import Backend, Capabilities, RawResult, device_kind, locate_model
from whisperbench.backends.transformers import SPEC
from whisperbench.backends.transformers.load import (
    OPTION_HELP,
    attention,
    compile_forward,
    compile_settings,
    from_pretrained,
)
from whisperbench.errors import ModelError, UnsupportedOptionError
from whisperbench.options import MAX_PROMPT_TOKENS, DecodeOptions, LoadOptions
from whisperbench.results import Segment, Word

_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}
CHUNKING = {
    "pipeline": "transformers.AutomaticSpeechRecognitionPipeline (chunk_length_s, stride chunk_length_s/6, "
    "batch_size; merge by longest common token sequence)",
    "whisperbench": chunking.implementation("transformers.WhisperForConditionalGeneration.generate, batched"),
}


class TransformersBackend(torch_common.TorchAllocatorPeak, Backend):
    name = "transformers"
    runtime_packages = SPEC.packages
    capabilities = Capabilities(
        model_format=SPEC.weight_format,
        algorithms={
            "short": "transformers.WhisperForConditionalGeneration.generate (one window)",
            "sequential": "transformers.WhisperForConditionalGeneration.generate (long-form)",
            "chunked": CHUNKING["pipeline"],
        },
        compute_types={
            "cpu": ("float32", "bfloat16", "int8"),
            "cuda": ("float16", "bfloat16", "float32", "int8", "nf4"),
            "mps": ("float16", "float32"),
        },
        batching=True,
        batch_implementation="transformers.WhisperForConditionalGeneration.generate (a batch of short-form windows, "
        "temperatures[0])",
        word_timestamps=True,
        word_timing=word_timing.DTW,
        extra_options={
            **OPTION_HELP,
            "assistant_model": "model spec of a smaller Whisper (e.g. a distil student) for speculative decoding; "
            "greedy only, batch 1",
            "chunking": "chunked algorithm: 'pipeline' (default; the transformers ASR pipeline, overlapping chunks "
            "merged by their tokens) or 'whisperbench' (the shared overlapping-chunk layer, batches decoded by "
            "generate)",
        },
        notes=(
            "best_of > 1 is not supported: generate returns every sample instead of keeping the best",
            "chunked: no temperature fallback, no condition_on_previous_text; thresholds apply per chunk; "
            "chunks decode in batches of batch_size",
            "sequential over inputs longer than 30 s needs timestamps=True (transformers' long-form generate)",
            "initial_prompt with sequential over inputs longer than 30 s needs condition_on_previous_text=True: "
            "without conditioning, long-form generate gives prompt_ids to every window (the others, to the first)",
            "int8 on CPU = torch dynamic quantization of Linear layers; int8/nf4 on CUDA need bitsandbytes",
            "word_timestamps: transformers' token timestamps (return_token_timestamps: DTW over the cross-attention "
            "of generation_config.alignment_heads), tokens grouped into words at leading spaces; chunked "
            "'pipeline' uses the pipeline's return_timestamps='word'. Token timestamps need the attention weights, "
            "so generate runs eager attention for those calls",
        ),
    )

    # ----- devices and options ----------------------------------------------------
    @classmethod
    def _device_available(cls, kind: str) -> bool:
        return torch_common.device_available(kind)

    @classmethod
    def _check_backend_options(cls, options: DecodeOptions) -> None:
        no = cls._unsupported

        if options.best_of > 1:
            raise no(
                f"best_of={options.best_of}",
                "transformers' generate returns every sampled candidate instead of keeping the best one",
            )
        if options.algorithm == "chunked" and options.uses_fallback:
            raise no(
                f"temperatures={options.temperatures} with algorithm='chunked'",
                "the ASR pipeline decodes each chunk at one temperature (use 'sequential' for fallback)",
            )

    @classmethod
    def _check_batch_options(cls, options: DecodeOptions) -> None:
        cls._short_batches_only(options)

    # ----- loading ----------------------------------------------------------------
    def _quiet_runtime(self) -> None:
        import huggingface_hub.utils
        import transformers

        transformers.logging.set_verbosity_error()  # generate/pipeline warn on every call
        transformers.logging.disable_progress_bar()  # "Loading weights" on every load
        huggingface_hub.utils.disable_progress_bars()  # downloads of a hub model

    def _load(self, model: str, load_options: LoadOptions) -> None:
        import torch
        import transformers

        self._torch = torch
        torch_common.set_threads(load_options.threads)
        extra = load_options.extra
        kind = device_kind(load_options.device)
        compute_type = load_options.compute_type
        self.attn_implementation = attention(extra, kind, compute_type)
        self.torch_compile, self.compile_mode = compile_settings(extra)
        self.chunking = chunking.choose(self, CHUNKING, "pipeline")

        self.location = locate_model(model, "transformers", self.name)
        where = self.location.path or self.location.hub_id
        local = self.location.path is not None
        self.dtype = getattr(torch, _DTYPES.get(compute_type, "float32"))
        kwargs: dict = dict(dtype=self.dtype)
        if kind == "cuda" and compute_type in ("int8", "nf4"):
            if importlib.util.find_spec("bitsandbytes") is None:
                raise UnsupportedOptionError(
                    f"compute type {compute_type!r} on CUDA needs bitsandbytes, which is not installed"
                )
            self.dtype = torch.float16
            kwargs["dtype"] = torch.float16
            kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
                load_in_8bit=compute_type == "int8",
                load_in_4bit=compute_type == "nf4",
                bnb_4bit_quant_type="nf4",
                bnb_4bit_compute_dtype=torch.float16,
            )
            kwargs["device_map"] = {"": load_options.device}
        self.model = from_pretrained(where, local, model, self.attn_implementation, **kwargs)
        if "device_map" not in kwargs:
            self.model.to(load_options.device)
        if kind == "cpu" and compute_type == "int8":
            self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model.eval()
        try:
            self.processor = transformers.AutoProcessor.from_pretrained(where, local_files_only=local)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the Whisper processor (tokenizer, feature extractor) of {model!r}: {exc}") from None
        self.tokenizer = self.processor.tokenizer
        if self.tokenizer.pad_token_id is None:  # the pipeline needs one to batch chunks
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.feature_extractor = self.processor.feature_extractor
        gen = self.model.generation_config
        self.multilingual = bool(getattr(gen, "is_multilingual", True))
        if not hasattr(gen, "no_timestamps_token_id"):
            raise ModelError(f"{model!r} has no Whisper generation config (generation_config.json with no_timestamps_token_id)")

        self.assistant = None
        self.assistant_location = None
        if extra.get("assistant_model"):
            spec = str(extra["assistant_model"])
            self.assistant_location = locate_model(spec, "transformers", self.name)
            a_where = self.assistant_location.path or self.assistant_location.hub_id
            a_kwargs = {k: v for k, v in kwargs.items() if k != "quantization_config"}
            # Decoder-only (WhisperForCausalLM), as the Distil-Whisper card shows: it reuses
            # the main model's encoder output, and its generate is the plain one (a full
            # Whisper assistant would run Whisper's fallback loop inside each draft call).
            self.assistant = from_pretrained(
                a_where, self.assistant_location.path is not None, spec, self.attn_implementation, causal_lm=True,
                **a_kwargs,
            )
            if "device_map" not in a_kwargs:
                self.assistant.to(load_options.device)
            self.assistant.eval()
            if self.assistant.config.vocab_size != self.model.config.vocab_size:
                raise ModelError(
                    f"assistant model {spec!r} has a vocabulary of {self.assistant.config.vocab_size} tokens, "
                    f"the main model {self.model.config.vocab_size}: speculative decoding needs the same tokenizer"
                )

        if self.torch_compile:
            compile_forward(self.model, self.compile_mode)
        self._pipeline = None

    def describe(self) -> dict:
        d = super().describe()
        d.update(self.location.describe())
        d["attn_implementation"] = self.attn_implementation
        d["torch_compile"] = self.torch_compile
        d["compile_mode"] = self.compile_mode
        if self.assistant_location is not None:
            d["assistant_model"] = self.assistant_location.describe()
        return d

    # ----- decoding -----------------------------------------------------------------
    def _check_model_options(self, options: DecodeOptions) -> None:
        super()._check_model_options(options)
        if self.assistant is not None:
            if options.beam_size > 1:
                raise UnsupportedOptionError(
                    f"backend 'transformers' cannot honour beam_size={options.beam_size} with an assistant model: "
                    "speculative decoding is greedy (or sampling) only"
                )
            if options.batch_size > 1:
                raise UnsupportedOptionError(
                    f"backend 'transformers' cannot honour batch_size={options.batch_size} with an assistant model: "
                    "speculative decoding runs one input at a time"
                )

    def _count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def _generate_kwargs(self, options: DecodeOptions) -> dict:
        temps = options.temperatures
        kwargs = dict(
            return_timestamps=options.timestamps,
            num_beams=options.beam_size,
            # Always a tuple: generate's fallback loop then iterates concrete values (a bare
            # float can reach _retrieve_avg_logprobs as None with an assistant model).
            temperature=tuple(temps),
            do_sample=temps[0] > 0,
            compression_ratio_threshold=options.compression_ratio_threshold,
            logprob_threshold=options.logprob_threshold,
            no_speech_threshold=options.no_speech_threshold,
        )
        if self.multilingual:  # English-only models take neither (generate raises)
            kwargs["language"] = options.language
            kwargs["task"] = options.task
        if options.max_new_tokens is not None:
            kwargs["max_new_tokens"] = options.max_new_tokens
        if options.initial_prompt is not None:
            # long-form: the first window's context (prompt_condition_type 'first-segment', the
            # default; with conditioning only, see _transcribe); the pipeline gives it to every chunk.
            kwargs["prompt_ids"] = self._prompt_ids(options)
        if options.no_speech_threshold is not None and options.logprob_threshold is None:
            # transformers applies no_speech_threshold only together with logprob_threshold,
            # which is also openai-whisper's rule; nothing to pass then.
            kwargs["no_speech_threshold"] = None
        if self.assistant is not None:
            kwargs["assistant_model"] = self.assistant
        return kwargs

    def _prompt_ids(self, options: DecodeOptions):
        """<|startofprev|> and the last MAX_PROMPT_TOKENS tokens of the prompt (the processor's
        get_prompt_ids, which refuses special tokens; openai-whisper's cut-off, which generate
        does not apply)."""
        ids = self.processor.get_prompt_ids(options.initial_prompt, return_tensors="pt")
        ids = self._torch.cat([ids[:1], ids[1:][-MAX_PROMPT_TOKENS:]])
        return ids.to(self.model.device)

    def _features(self, samples: np.ndarray, long_form: bool):
        torch = self._torch
        if long_form and len(samples) > 30 * SAMPLE_RATE:
            inputs = self.feature_extractor(
                samples, sampling_rate=SAMPLE_RATE, return_tensors="pt",
                truncation=False, padding="longest", return_attention_mask=True,
            )
        else:
            inputs = self.feature_extractor(
                samples, sampling_rate=SAMPLE_RATE, return_tensors="pt", return_attention_mask=True
            )
        features = inputs.input_features.to(self.model.device, dtype=self.dtype if self.dtype != torch.qint8 else None)
        return features, inputs.attention_mask.to(self.model.device)

    def _transcribe(self, samples: np.ndarray, options: DecodeOptions) -> RawResult:
        if options.algorithm == "chunked":
            if self.chunking == "whisperbench":
                segments, first, extra = chunking.transcribe_chunked(samples, options, self._decode_windows)
                return RawResult(segments=segments, language=first.language,
                                 language_probability=first.language_probability, extra=extra)
            return self._chunked(samples, options)
        long_form = options.algorithm == "sequential"
        if long_form and len(samples) > 30 * SAMPLE_RATE and not options.timestamps:
            raise UnsupportedOptionError(
                "backend 'transformers' cannot honour timestamps=False with algorithm='sequential' on input "
                "longer than 30 s: its long-form generate needs timestamp tokens"
            )
        if long_form and len(samples) > 30 * SAMPLE_RATE and options.initial_prompt is not None \
                and not options.condition_on_previous_text:
            raise UnsupportedOptionError(
                "backend 'transformers' cannot honour initial_prompt with algorithm='sequential' and "
                "condition_on_previous_text=False on input longer than 30 s: its long-form generate then gives "
                "prompt_ids to every window, not to the first only; pass condition_on_previous_text=True, or use "
                "algorithm 'chunked' (every chunk prompted)"
            )
        features, attention_mask = self._features(samples, long_form)
        kwargs = self._generate_kwargs(options)
        probability = None
        if self.multilingual and options.language is None:
            (kwargs["language"],), (probability,) = self._detect_languages(features)
        if long_form:
            kwargs["condition_on_prev_tokens"] = options.condition_on_previous_text
        duration = len(samples) / SAMPLE_RATE
        with self._torch.inference_mode(), self._token_timestamps(options, kwargs):
            out = self.model.generate(
                features, attention_mask=attention_mask, return_segments=True, **kwargs
            )
        segments = [self._segment(s, duration) for s in out["segments"][0]]
        segments = [
            s if s.end <= duration else Segment(**{**s.__dict__, "end": max(duration, s.start)}) for s in segments
        ]
        language = kwargs.get("language") or options.language or self._language_of(out["sequences"][0])
        return RawResult(segments=segments, language=language, language_probability=probability)

    def _segment(self, s: dict, duration: float) -> Segment:
        tokens = [int(t) for t in s["tokens"].tolist()]
        eot = self.tokenizer.eos_token_id
        text_tokens = tuple(t for t in tokens if t < eot)
        avg_logprob = None
        result = s.get("result")
        return Segment(
            start=round(float(s["start"]), 3),
            end=round(float(s["end"]), 3),
            text=self.tokenizer.decode(list(text_tokens), skip_special_tokens=True),
            tokens=text_tokens,
            avg_logprob=avg_logprob if result is None else avg_logprob,
            words=self._words(tokens, s, duration) if "token_timestamps" in s else None,
        )

    def _words(self, tokens: list[int], s: dict, duration: float) -> tuple[Word, ...]:
        """A segment's words from generate's token timestamps: token k spans from the time of
        the token before it (the segment's opening timestamp token, for the first) to its own,
        as transformers' pipeline reads them (`_decode_asr`)."""
        times = [float(t) for t in s["token_timestamps"].tolist()]
        eot = self.tokenizer.eos_token_id
        idx = [j for j, t in enumerate(tokens) if t < eot]
        words = word_timing.words_from_tokens(
            [tokens[j] for j in idx], [times[j - 1] if j > 0 else float(s["start"]) for j in idx], [times[j] for j in idx],
            lambda t: self.tokenizer.decode(t, skip_special_tokens=True))
        return word_timing.monotonic(words, 0.0, duration)

    @contextlib.contextmanager
    def _token_timestamps(self, options: DecodeOptions, kwargs: dict | None):
        """With word_timestamps, ask generate for token timestamps (cross-attention DTW over
        the alignment heads) in `kwargs` (None: the caller asks). generate switches the model
        to eager attention for them and leaves it so; the attention implementation is restored
        after the call."""
        if not options.word_timestamps:
            yield
            return
        if not getattr(self.model.generation_config, "alignment_heads", None):
            raise UnsupportedOptionError(
                f"backend 'transformers' cannot honour word_timestamps=True with {self.model_spec!r}: its "
                "generation_config has no alignment_heads (the cross-attention heads that time the words)")
        if kwargs is not None:
            kwargs["return_token_timestamps"] = True
        configs = {id(c): (c, c._attn_implementation) for c in (self.model.config, self.model.model.config)}
        try:
            yield
        finally:
            for config, attn in configs.values():
                config._attn_implementation = attn

    def _detect_languages(self, features) -> tuple[list[str], list[float]]:
        """The language of each input's first 30 s and its probability: transformers'
        `WhisperForConditionalGeneration.detect_language` (the decoder's first step after
        the start token, restricted to the language tokens), whose argmax it returns; here
        softmaxed over the language tokens, as openai-whisper reports it."""
        torch = self._torch
        gen = self.model.generation_config
        codes = [k.strip("<|>") for k in gen.lang_to_id]
        ids = list(gen.lang_to_id.values())
        frames = self.model.config.max_source_positions * 2  # the encoder's 2x downsampling: 3000
        start = torch.full((features.shape[0], 1), gen.decoder_start_token_id, dtype=torch.long,
                           device=self.model.device)
        with torch.inference_mode():
            logits = self.model(input_features=features[:, :, :frames], decoder_input_ids=start,
                                use_cache=False).logits[:, -1]
        probs = logits[:, ids].float().softmax(-1)
        best = probs.argmax(-1).tolist()
        return [codes[b] for b in best], [float(probs[i, b]) for i, b in enumerate(best)]

    def _language_of(self, sequence) -> str | None:
        lang_to_id = getattr(self.model.generation_config, "lang_to_id", None) or {}
        id_to_lang = {v: k.strip("<|>") for k, v in lang_to_id.items()}
        for t in sequence.tolist()[:4]:
            if int(t) in id_to_lang:
                return id_to_lang[int(t)]
        return None

    def _transcribe_batch(self, batch: list[np.ndarray], options: DecodeOptions) -> list[RawResult]:
        if self.assistant is not None:
            raise UnsupportedOptionError("backend 'transformers' cannot decode a batch of inputs with an assistant "
                                         "model: speculative decoding runs one input at a time")
        return super()._transcribe_batch(batch, options)

    def _decode_windows(self, windows: list[np.ndarray], options: DecodeOptions) -> list[chunking.WindowResult]:
        """Decode up to 30 s windows in one `generate` call (the shared layer's decoder):
        padded features, the window's tokens split into segments at timestamp tokens."""
        torch = self._torch
        inputs = self.feature_extractor(
            windows, sampling_rate=SAMPLE_RATE, return_tensors="pt", return_attention_mask=True
        )
        features = inputs.input_features.to(self.model.device, dtype=self.dtype if self.dtype != torch.qint8 else None)
        kwargs = self._generate_kwargs(options)
        languages: list[str | None] = [options.language] * len(windows)
        probs: list[float | None] = [None] * len(windows)
        if self.multilingual and options.language is None:
            languages, probs = self._detect_languages(features)
            kwargs["language"] = languages
        with torch.inference_mode():
            with self._token_timestamps(options, kwargs):  # word_timestamps: segments with token times
                out = self.model.generate(features, attention_mask=inputs.attention_mask.to(self.model.device),
                                          **kwargs, **({"return_segments": True} if options.word_timestamps else {}))
        timed = None  # word_timestamps: each window's segments as generate split them, with words
        if options.word_timestamps:
            timed = [[self._segment(s, len(w) / SAMPLE_RATE) for s in segs] for w, segs in zip(windows, out["segments"])]
        sequences = out["sequences"] if isinstance(out, dict) else out
        tb = self.model.generation_config.no_timestamps_token_id + 1
        eot = self.tokenizer.eos_token_id
        sot = self.model.generation_config.decoder_start_token_id
        results = []
        for w, seq, lang, prob in zip(windows, sequences.tolist(), languages, probs):
            if options.initial_prompt is not None and sot in seq:  # the prompt's tokens lead the sequence
                seq = seq[seq.index(sot):]
            segments = timed.pop(0) if timed is not None else chunking.segments_from_tokens(
                seq, tb, eot, lambda t: self.tokenizer.decode(t, skip_special_tokens=True), len(w) / SAMPLE_RATE
            )
            results.append(chunking.WindowResult(segments, language=lang, language_probability=prob))
        return results

    # ----- chunked: the transformers pipeline ---------------------------------------
    def _get_pipeline(self):
        if self._pipeline is None:
            from transformers import pipeline

            self._pipeline = pipeline(
                "automatic-speech-recognition",
                model=self.model,
                tokenizer=self.tokenizer,
                feature_extractor=self.feature_extractor,
                dtype=self.dtype,
                device=self.model.device,
            )
        return self._pipeline

    def _chunked(self, samples: np.ndarray, options: DecodeOptions) -> RawResult:
        pipe = self._get_pipeline()
        kwargs = self._generate_kwargs(options)
        kwargs.pop("return_timestamps")
        probability = None
        if self.multilingual and options.language is None:
            # Detected once from the first 30 s, every chunk decoded in it (as the shared
            # chunking layer does; the pipeline alone would detect chunk by chunk).
            features, _ = self._features(samples[: 30 * SAMPLE_RATE], long_form=False)
            (kwargs["language"],), (probability,) = self._detect_languages(features)
        with self._torch.inference_mode(), self._token_timestamps(options, None):  # (the pipeline asks itself)
            out = pipe(
                {"raw": samples, "sampling_rate": SAMPLE_RATE},
                chunk_length_s=options.chunk_length_s,
                batch_size=options.batch_size,
                return_timestamps="word" if options.word_timestamps else options.timestamps,
                generate_kwargs=kwargs,
            )
        duration = len(samples) / SAMPLE_RATE
        segments = []
        chunks = out.get("chunks") if options.timestamps else None
        if options.word_timestamps:
            segments = self._word_chunks(chunks or [], duration)
            chunks = []  # (the segments are made of the words)
        elif not chunks:
            chunks = [{"timestamp": (0.0, duration), "text": out["text"]}]
        prev_start = 0.0
        for c in chunks:
            start, end = c["timestamp"]
            start = 0.0 if start is None else float(start)
            end = duration if end is None else float(end)
            start = min(max(start, prev_start), duration)
            end = min(max(end, start), duration)
            prev_start = start
            tokens = tuple(self.tokenizer.encode(c["text"], add_special_tokens=False))
            segments.append(Segment(start=round(start, 3), end=round(end, 3), text=c["text"], tokens=tokens))
        return RawResult(
            segments=segments,
            language=kwargs.get("language") or options.language or ("en" if not self.multilingual else None),
            language_probability=probability,
            text=out["text"],
            extra={
                "tokens_counted": "re-tokenized from the pipeline's text (the pipeline returns no token ids)",
                "window_boundaries": self._pipeline_boundaries(len(samples), options.chunk_length_s),
            },
        )

    def _word_chunks(self, chunks: list[dict], duration: float) -> list[Segment]:
        """Segments from the pipeline's word chunks (return_timestamps='word' gives no segment
        times): one per sentence (word_timing.sentences)."""
        words = word_timing.chunk_words(chunks, 0.0, duration)
        return word_timing.word_segments(words, 0.0, duration, lambda idx: self.tokenizer.encode(
            word_timing.joined([words[i] for i in idx]), add_special_tokens=False))

    @staticmethod
    def _pipeline_boundaries(n_samples: int, chunk_length_s: float) -> list[float]:
        """Seconds where the pipeline hands over from one chunk to the next: the middle of
        each overlap (its `chunk_iter` with the default stride of chunk_length_s / 6)."""
        chunk = int(round(chunk_length_s * SAMPLE_RATE))
        stride = int(round(chunk_length_s / 6 * SAMPLE_RATE))
        step = chunk - 2 * stride
        starts = list(range(0, n_samples, step))
        ends = [s + chunk for s in starts]
        last = next((i for i, e in enumerate(ends) if e >= n_samples), len(starts) - 1)
        return [round((s + stride) / SAMPLE_RATE, 3) for s in starts[1:last + 1]]

    def _synchronize(self) -> None:
        torch_common.synchronize(self.load_options.device)

    def close(self) -> None:
        self._pipeline = None
        self.assistant = None
        self.model = None
