"""whisper.cpp through pywhispercpp (`Model.transcribe` = `whisper_full`).

- short: one `whisper_full` call on the (at most 30 s) input;
- sequential: `whisper_full` over the whole input: whisper.cpp's own sliding-window
  decoding, with its temperature fallback (`temperature` + `temperature_inc`), log-prob
  and no-speech thresholds, and `no_context` for conditioning;
- chunked: the shared chunking layer, one `whisper_full` per chunk (no batching), with
  windows cut in pauses found by Silero VAD (`-O chunking=vad`, the default) or fixed
  overlapping windows (`-O chunking=overlap`). With fixed windows whisper.cpp tiny.en
  measured 2.5 WER points above its sequential decoding on the sonnets join (12.32 vs 9.80
  %); with cuts in pauses 0.8 (benchmarks/bench_longform.py).

Compute types are ggml weight types; a model in another format (or another ggml type)
is converted with `whisperbench.conversion.ensure_format(spec, "ggml", type)`.
"""

from __future__ import annotations

import math
import os
import struct

import numpy as np

from whisperbench.audio import SAMPLE_RATE
from whisperbench.backends import chunking, word_timing
from whisperbench.backends.base import Backend, Capabilities, ModelLocation, RawResult, locate_model
from whisperbench.backends.whispercpp import SPEC
from whisperbench.backends.whispercpp.load import check_cuda, cuda_build, default_threads, load_model, stderr_to
from whisperbench.errors import ModelError, UnsupportedOptionError, WhisperbenchError
from whisperbench.options import WINDOW_SECONDS, DecodeOptions, LoadOptions
from whisperbench.results import Segment, Word

GGML_TYPES = ("f16", "q8_0", "q5_0", "q5_1", "q4_0")
# whisper.cpp's fixed decoder pool (WHISPER_MAX_DECODERS in src/whisper.cpp, 8 in 1.8.5):
# whisper_full needs max(beam_size, best_of) decoders and returns -4, with no segments,
# when that is larger.
MAX_DECODERS = 8
# whisper_full's error codes (whisper.cpp 1.8.5), for a one-line error.
_FULL_ERRORS = {
    -1: "failed to compute voice activity", -2: "failed to compute the log mel spectrogram",
    -3: "failed to auto-detect the language", -4: "too many decoders requested",
    -5: "audio_ctx is larger than the maximum", -6: "failed to encode", -7: "failed to allocate the KV cache",
    -8: "failed to decode", -9: "failed to decode",
}
# ggml's ftype numbers in a whisper.cpp model header (ftype % 1000 = GGML_QNT_VERSION_FACTOR).
_FTYPE_NAMES = {0: "f32", 1: "f16", 2: "q4_0", 3: "q4_1", 7: "q8_0", 8: "q5_0", 9: "q5_1"}


def ggml_type(path: str) -> str | None:
    """The weight type recorded in a whisper.cpp ggml file's header (None if unreadable)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4 * 12)
        values = struct.unpack("<12i", head)
    except (OSError, struct.error):
        return None
    return _FTYPE_NAMES.get(values[11] % 1000)


def _fallback_schedule(temps: tuple[float, ...]) -> tuple[float, float] | None:
    """whisper.cpp retries at temperature, temperature + inc, ... while <= 1.0. Return
    (temperature, inc) when `temps` is exactly such a sequence, else None."""
    if len(temps) == 1:
        return temps[0], 0.0
    inc = temps[1] - temps[0]
    if inc <= 0:
        return None
    expected = []
    t = temps[0]
    while t < 1.0 + 1e-6:
        expected.append(t)
        t += inc
    if len(expected) == len(temps) and all(abs(a - b) < 1e-4 for a, b in zip(expected, temps)):
        return temps[0], inc
    return None


_CALL = "pywhispercpp.Model.transcribe per chunk"
CHUNKING = {placement: chunking.implementation(_CALL, placement) for placement in chunking.PLACEMENTS}


class WhisperCppBackend(Backend):
    name = "whispercpp"
    runtime_packages = SPEC.packages
    capabilities = Capabilities(
        model_format=SPEC.weight_format,
        algorithms={
            "short": "pywhispercpp.Model.transcribe (whisper_full, one window)",
            "sequential": "pywhispercpp.Model.transcribe (whisper_full)",
            "chunked": CHUNKING["vad"],
        },
        compute_types={"cpu": GGML_TYPES, "cuda": GGML_TYPES},
        batching=False,
        word_timestamps=True,
        word_timing=word_timing.TOKEN_TIMESTAMPS,
        max_new_tokens=False,
        extra_options={
            "chunking": "chunked windows: 'vad' (default; cut in pauses found by Silero VAD, overlapping "
            "and stitched where there is none) or 'overlap' (fixed overlapping windows, all stitched)",
            "entropy_thold": "whisper.cpp's own fallback criterion (token entropy below this fails a decode); "
            "off unless set",
        },
        notes=(
            "temperature fallback only as an evenly spaced sequence up to 1.0 (temperature + temperature_inc), "
            "e.g. 0,0.2,0.4,0.6,0.8,1.0",
            "compression_ratio_threshold is not computed by whisper.cpp: with fallback pass "
            "compression_ratio_threshold=None (optionally -O entropy_thold=2.4, whisper.cpp's own criterion)",
            "max_new_tokens and batch_size > 1 are not supported",
            "word_timestamps: whisper.cpp's token timestamps (token_timestamps, t0/t1 of each token from the "
            "timestamp-token probabilities), tokens grouped into words at leading spaces",
            "device cuda: only with a pywhispercpp built with CUDA (the PyPI wheel is CPU-only)",
            "every call starts from a clean text context (no_context=True: whisper.cpp would otherwise prompt "
            "a call with the previous call's text); condition_on_previous_text applies within one call "
            "(off: n_max_text_ctx=0, no window sees the earlier text)",
            "initial_prompt with sequential over inputs longer than 30 s needs condition_on_previous_text=True: "
            "whisper.cpp cannot prompt the first window only",
        ),
    )

    @classmethod
    def _device_available(cls, kind: str) -> bool:
        return kind == "cpu" or (kind == "cuda" and cuda_build())

    @classmethod
    def _device_problem(cls, kind: str) -> str | None:
        if kind == "cuda":
            try:
                check_cuda()
            except UnsupportedOptionError as exc:
                return str(exc)
        return super()._device_problem(kind)

    @classmethod
    def _check_backend_options(cls, options: DecodeOptions) -> None:
        no = cls._unsupported

        if _fallback_schedule(options.temperatures) is None:
            raise no(
                f"temperatures={options.temperatures}",
                "whisper.cpp falls back along temperature, temperature + inc, ... up to 1.0 "
                "(an evenly spaced sequence ending at the last step <= 1.0)",
            )
        if options.uses_fallback and options.compression_ratio_threshold is not None:
            raise no(
                f"compression_ratio_threshold={options.compression_ratio_threshold}",
                "whisper.cpp does not compute compression ratios; pass None "
                "(and optionally -O entropy_thold=2.4, its own repetition criterion)",
            )
        if options.batch_size > 1:
            raise no(f"batch_size={options.batch_size}", "whisper.cpp decodes one chunk at a time")
        for name in ("beam_size", "best_of"):
            value = getattr(options, name)
            if value > MAX_DECODERS:
                raise no(f"{name}={value}", f"whisper.cpp runs at most {MAX_DECODERS} decoders (WHISPER_MAX_DECODERS)")

    def _load(self, model: str, load_options: LoadOptions) -> None:
        import _pywhispercpp as pw
        from pywhispercpp.constants import AVAILABLE_MODELS

        self._pw = pw
        self.chunking = chunking.choose(self, CHUNKING, "vad")
        entropy = load_options.extra.get("entropy_thold")
        try:
            self.entropy_thold = float(entropy) if entropy is not None else 0.0
        except (TypeError, ValueError):
            raise UnsupportedOptionError(f"entropy_thold={entropy!r}: must be a number") from None
        wanted = load_options.compute_type
        location = locate_model(model, "ggml", self.name)
        if location.path is not None:
            have = ggml_type(location.path)
            if have != wanted:
                # Another ggml type (or another format): convert to the one asked for.
                converted = locate_model(model, "ggml", self.name, quantization=wanted)
                location = ModelLocation(converted.path, None, location.converted_from or f"ggml {have}")
            self.ggml_type = ggml_type(location.path)
            where = location.path  # checked by locate_model (conversion.check)
        else:
            name = location.hub_id if wanted == "f16" else f"{location.hub_id}-{wanted}"
            if name not in AVAILABLE_MODELS:
                raise ModelError(
                    f"{model!r} ({wanted}) is neither a local model nor a whisper.cpp model name; "
                    f"names: {', '.join(AVAILABLE_MODELS)}"
                )
            where = name
            self.ggml_type = wanted
        self.location = location
        self.threads = default_threads(load_options.threads)
        self.model = load_model(where, self.threads, load_options.device, spec=model)
        ctx = self.model._ctx
        self.eot = pw.whisper_token_eot(ctx)
        self.multilingual = bool(pw.whisper_is_multilingual(ctx))

    def describe(self) -> dict:
        d = super().describe()
        d.update(self.location.describe())
        d["ggml_type"] = self.ggml_type
        d["threads"] = self.threads
        return d

    # ----- decoding -----------------------------------------------------------------
    def params(self, options: DecodeOptions) -> dict:
        """whisper_full_params for `options` (every call sets all of them: pywhispercpp
        keeps parameters between calls)."""
        pw = self._pw
        temperature, inc = _fallback_schedule(options.temperatures)
        beam = options.beam_size > 1
        return dict(
            strategy=pw.whisper_sampling_strategy.WHISPER_SAMPLING_BEAM_SEARCH if beam
            else pw.whisper_sampling_strategy.WHISPER_SAMPLING_GREEDY,
            beam_search={"beam_size": options.beam_size if beam else -1, "patience": -1.0},
            greedy={"best_of": options.best_of},
            n_threads=self.threads,
            language=options.language or "",
            detect_language=False,
            translate=options.task == "translate",
            # Always: whisper.cpp keeps the last call's text in its state (prompt_past) and, without
            # no_context, prompts the next call's first window with it. no_context only clears it at
            # the start of whisper_full (before the initial prompt is added and before anything is
            # decoded: no extra work), so every call starts clean, as openai-whisper and faster-whisper
            # do; within the call each window is conditioned on the earlier windows' text unless
            # n_max_text_ctx is 0 (whisper.cpp refills that context after every window whatever
            # no_context says).
            no_context=True,
            # 16384 is whisper.cpp's default (the decoder's half context bounds it). 0 also drops the
            # initial prompt, which is why _transcribe refuses prompt + no conditioning past 30 s.
            n_max_text_ctx=16384 if options.condition_on_previous_text or options.initial_prompt is not None else 0,
            # whisper.cpp tokenizes the text as given ("": none); prompt_text is it as openai-whisper encodes it.
            initial_prompt=options.prompt_text or "",
            prompt_tokens=None,
            no_timestamps=not options.timestamps,
            single_segment=False,
            token_timestamps=options.word_timestamps,
            temperature=temperature,
            temperature_inc=inc,
            logprob_thold=options.logprob_threshold if options.logprob_threshold is not None else -math.inf,
            no_speech_thold=options.no_speech_threshold if options.no_speech_threshold is not None else math.inf,
            entropy_thold=self.entropy_thold,
            # openai-whisper / faster-whisper / transformers all suppress non-speech tokens.
            suppress_nst=True,
            suppress_blank=True,
            max_tokens=0,
            max_len=0,
            print_progress=False,
            print_realtime=False,
            print_timestamps=False,
            print_special=False,
        )

    def _detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        """The language of the first 30 s and its probability: `whisper_lang_auto_detect`,
        what whisper_full runs when given no language, which keeps the probabilities to
        itself. The language is then passed on, so whisper_full detects nothing again (it
        only computes its own log-mel spectrogram, a few milliseconds)."""
        pw = self._pw
        ctx = self.model._ctx
        with stderr_to(os.devnull):
            if pw.whisper_pcm_to_mel(ctx, samples, samples.size, self.threads) != 0:
                raise WhisperbenchError("whisper.cpp failed to compute the log-mel spectrogram for language detection")
            probs = np.zeros(pw.whisper_lang_max_id() + 1, dtype=np.float32)
            lang_id = pw.whisper_lang_auto_detect(ctx, 0, self.threads, probs)
        if lang_id < 0:
            raise WhisperbenchError(f"whisper.cpp failed to detect the language (whisper_lang_auto_detect returned {lang_id})")
        return pw.whisper_lang_str(lang_id), float(probs[lang_id])

    def _run(self, samples: np.ndarray, params: dict) -> chunking.WindowResult:
        pw = self._pw
        ctx = self.model._ctx
        probability = None
        if not params["language"] and self.multilingual:
            language, probability = self._detect_language(samples)
            params = {**params, "language": language}
        self.model._set_params(params)  # what Model.transcribe does, which drops whisper_full's status
        with stderr_to(os.devnull):  # whisper.cpp may log (e.g. fallback) on fd 2
            status = pw.whisper_full(ctx, self.model._params, samples, samples.size)
        if status != 0:  # no segments then: never an empty transcript that looks fine
            raise WhisperbenchError(
                f"whisper.cpp failed (whisper_full returned {status}: {_FULL_ERRORS.get(status, 'unknown error')})"
            )
        segments = []
        for i in range(pw.whisper_full_n_segments(ctx)):
            tokens = tuple(
                t for t in (pw.whisper_full_get_token_id(ctx, i, j) for j in range(pw.whisper_full_n_tokens(ctx, i)))
                if t < self.eot
            )
            text = pw.whisper_full_get_segment_text(ctx, i).decode("utf-8", errors="replace")
            segments.append(
                Segment(
                    start=pw.whisper_full_get_segment_t0(ctx, i) / 100.0,
                    end=pw.whisper_full_get_segment_t1(ctx, i) / 100.0,
                    text=text,
                    tokens=tokens,
                    words=self._words(i, samples.size / SAMPLE_RATE) if params["token_timestamps"] else None,
                )
            )
        language = pw.whisper_lang_str(pw.whisper_full_lang_id(ctx))
        return chunking.WindowResult(segments, language=language, language_probability=probability)

    def _words(self, segment: int, duration: float) -> tuple[Word, ...]:
        """A segment's words from whisper.cpp's token timestamps (t0/t1, in 10 ms units), kept
        inside the audio (whisper.cpp may stamp the last token past its end, in the padding)."""
        pw = self._pw
        ctx = self.model._ctx
        data = [pw.whisper_full_get_token_data(ctx, segment, j) for j in range(pw.whisper_full_n_tokens(ctx, segment))]
        data = [d for d in data if d.id < self.eot]

        def decode(tokens: list[int]) -> str:
            return b"".join(pw.whisper_token_to_bytes(ctx, t) for t in tokens).decode("utf-8", errors="replace")

        words = word_timing.words_from_tokens(
            [d.id for d in data], [d.t0 / 100.0 for d in data], [d.t1 / 100.0 for d in data], decode,
            probabilities=[d.p for d in data])
        return word_timing.monotonic(words, 0.0, duration)

    def _transcribe(self, samples: np.ndarray, options: DecodeOptions) -> RawResult:
        params = self.params(options)
        duration = len(samples) / SAMPLE_RATE
        if options.algorithm == "sequential" and duration > WINDOW_SECONDS and options.initial_prompt is not None \
                and not options.condition_on_previous_text:
            raise UnsupportedOptionError(
                "backend 'whispercpp' cannot honour initial_prompt with algorithm='sequential' and "
                "condition_on_previous_text=False on input longer than 30 s: whisper.cpp either conditions every "
                "window on the earlier text (prompt included) or none (prompt dropped); pass "
                "condition_on_previous_text=True, or use algorithm 'chunked' (every chunk prompted)"
            )
        if options.algorithm == "chunked":
            segments, first, extra = chunking.transcribe_chunked(
                samples, options, self._decode_windows, placement=self.chunking
            )
            return RawResult(segments=segments, language=first.language,
                             language_probability=first.language_probability, extra=extra)
        res = self._run(samples, params)
        segments = [
            s if s.end <= duration else Segment(**{**s.__dict__, "end": max(duration, s.start)}) for s in res.segments
        ]
        return RawResult(segments=segments, language=res.language, language_probability=res.language_probability)

    def _decode_windows(self, windows: list[np.ndarray], options: DecodeOptions) -> list[chunking.WindowResult]:
        params = self.params(options)
        return [self._run(w, params) for w in windows]

    def close(self) -> None:
        self.model = None

