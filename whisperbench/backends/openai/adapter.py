"""openai-whisper (the reference PyTorch implementation).

- sequential: `whisper.transcribe` (its temperature fallback, thresholds, conditioning);
- short: `Whisper.decode` on one padded 30 s window, with the same fallback rule as
  `whisper.transcribe` applied around it (no seeking inside the window);
- chunked: the shared chunking layer, decoding a batch of padded windows per
  `Whisper.decode` call.

Audio is passed as 16 kHz float32 arrays, so openai-whisper never needs ffmpeg.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from whisperbench.backends import chunking, torch_common, word_timing
from whisperbench.backends.base import Backend, Capabilities, RawResult, locate_model
from whisperbench.backends.openai import SPEC
from whisperbench.backends.openai.load import load_model
from whisperbench.errors import ModelError, UnsupportedOptionError
from whisperbench.options import DecodeOptions, LoadOptions
from whisperbench.results import Segment, Word


_CALL = "whisper.Whisper.decode, batched"
CHUNKING = {placement: chunking.implementation(_CALL, placement) for placement in chunking.PLACEMENTS}


class LanguageProbabilities:
    """Wraps a loaded model's `detect_language` and keeps the probabilities of its last call:
    whisper.transcribe and Whisper.decode detect the language with it but return only the
    winner. Nothing is computed twice; `last` is one {language: probability} per input."""

    def __init__(self, detect) -> None:
        self.detect = detect
        self.last: list[dict[str, float]] | None = None

    def __call__(self, *args, **kwargs):
        tokens, probs = self.detect(*args, **kwargs)
        self.last = probs if isinstance(probs, list) else [probs]
        return tokens, probs

    def take(self) -> list[dict[str, float]] | None:
        last, self.last = self.last, None
        return last


class OpenAIWhisperBackend(torch_common.TorchAllocatorPeak, Backend):
    name = "openai"
    runtime_packages = SPEC.packages
    capabilities = Capabilities(
        model_format=SPEC.weight_format,
        algorithms={
            "short": "whisper.Whisper.decode (one padded window, transcribe's fallback rule)",
            "sequential": "whisper.transcribe",
            "chunked": CHUNKING["overlap"],
        },
        compute_types={"cpu": ("float32",), "cuda": ("float16", "float32")},
        batching=False,
        word_timestamps=True,
        word_timing=word_timing.DTW,
        extra_options={
            "chunking": "chunked windows: 'overlap' (default; fixed overlapping windows, all stitched) or "
            "'vad' (cut in pauses found by Silero VAD, overlapping and stitched where there is none)",
        },
        notes=(
            "word_timestamps: openai-whisper's own alignment (cross-attention DTW, whisper.timing); short and "
            "chunked call whisper.timing.add_word_timestamps on each decoded window",
        ),
    )

    @classmethod
    def _device_available(cls, kind: str) -> bool:
        return torch_common.device_available(kind)

    def _load(self, model: str, load_options: LoadOptions) -> None:
        import torch
        import whisper

        self._torch = torch
        self._whisper = whisper
        self.chunking = chunking.choose(self, CHUNKING, "overlap")
        torch_common.set_threads(load_options.threads)
        self.location = locate_model(model, "openai", self.name)
        name = self.location.path or self.location.hub_id
        if self.location.hub_id is not None and name not in whisper.available_models():
            raise ModelError(
                f"{model!r} is neither a local model nor an openai-whisper model name; "
                f"names: {', '.join(whisper.available_models())}"
            )
        self.model = load_model(name, load_options.device, model)
        self.fp16 = load_options.compute_type == "float16"
        self.multilingual = self.model.is_multilingual
        self.detected = LanguageProbabilities(self.model.detect_language)
        self.model.detect_language = self.detected
        from whisper.tokenizer import get_tokenizer

        self.tokenizer = get_tokenizer(
            self.model.is_multilingual, num_languages=self.model.num_languages, language=None, task="transcribe"
        )

    def describe(self) -> dict:
        d = super().describe()
        d.update(self.location.describe())
        return d

    def _count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    # ----- options --------------------------------------------------------------

    def _decoding_kwargs(self, options: DecodeOptions) -> dict:
        """DecodingOptions fields shared by transcribe and decode. beam_size=1 means
        greedy, which openai-whisper spells beam_size=None (a 1-beam search differs)."""
        return dict(
            task=options.task,
            language=options.language,
            beam_size=options.beam_size if options.beam_size > 1 else None,
            best_of=options.best_of,
            sample_len=options.max_new_tokens,
            without_timestamps=not options.timestamps,
            fp16=self.fp16,
        )

    # ----- transcription ----------------------------------------------------------
    def _transcribe(self, samples: np.ndarray, options: DecodeOptions) -> RawResult:
        if options.algorithm == "sequential":
            return self._sequential(samples, options)
        if options.algorithm == "short":
            (res,) = self._decode_windows([samples], options)
            return RawResult(segments=res.segments, language=res.language, language_probability=res.language_probability)
        segments, first, extra = chunking.transcribe_chunked(
            samples, options, self._decode_windows, placement=self.chunking
        )
        return RawResult(segments=segments, language=first.language, language_probability=first.language_probability,
                         extra=extra)

    def _sequential_kwargs(self, options: DecodeOptions) -> dict:
        """Every keyword `whisper.transcribe` gets for `options` (the benchmark reuses it)."""
        return dict(
            verbose=None,
            temperature=tuple(options.temperatures),
            compression_ratio_threshold=options.compression_ratio_threshold,
            logprob_threshold=options.logprob_threshold,
            no_speech_threshold=options.no_speech_threshold,
            condition_on_previous_text=options.condition_on_previous_text,
            word_timestamps=options.word_timestamps,
            initial_prompt=options.initial_prompt,  # the first window's context
            **self._decoding_kwargs(options),
        )

    def _sequential(self, samples: np.ndarray, options: DecodeOptions) -> RawResult:
        self.detected.take()
        result = self._whisper.transcribe(self.model, samples, **self._sequential_kwargs(options))
        probs = self.detected.take()  # transcribe detects from the first 30 s when no language is given
        eot = self.tokenizer.eot
        segments = []
        for s in result["segments"]:
            words = None
            if options.word_timestamps:
                words = tuple(
                    Word(float(w["start"]), float(w["end"]), w["word"], float(w["probability"]))
                    for w in s.get("words", [])
                )
            segments.append(
                Segment(
                    start=float(s["start"]),
                    end=float(s["end"]),
                    text=s["text"],
                    tokens=tuple(t for t in s["tokens"] if t < eot),
                    avg_logprob=float(s["avg_logprob"]),
                    no_speech_prob=float(s["no_speech_prob"]),
                    compression_ratio=float(s["compression_ratio"]),
                    temperature=float(s["temperature"]),
                    words=words,
                )
            )
        # Each segment names the 30 s window it came from by its start ("seek", in 10 ms
        # mel frames): where one window ends and the next begins.
        seeks = sorted({round(s["seek"] / 100, 3) for s in result["segments"] if s["seek"] > 0})
        language = result.get("language")
        return RawResult(segments=segments, language=language, text=result["text"],
                         language_probability=probs[0].get(language) if probs else None,
                         extra={"window_boundaries": seeks})

    def _decode_windows(self, windows: list[np.ndarray], options: DecodeOptions) -> list[chunking.WindowResult]:
        """Decode up to 30 s windows in one batch, with whisper.transcribe's fallback
        rule per window (windows that need it are re-decoded at the next temperature)."""
        whisper = self._whisper
        mels = [
            whisper.log_mel_spectrogram(whisper.pad_or_trim(w), self.model.dims.n_mels) for w in windows
        ]
        mel = self._torch.stack(mels).to(self.model.device)
        if self.fp16:
            mel = mel.half()
        base = self._decoding_kwargs(options)
        base["prompt"] = options.initial_prompt  # each window's context (DecodingOptions.prompt)
        crt, lpt, nst = options.compression_ratio_threshold, options.logprob_threshold, options.no_speech_threshold
        results: list = [None] * len(windows)
        todo = list(range(len(windows)))
        probs = None  # per window, from the first pass (fallback passes detect the same again)
        self.detected.take()
        for t in options.temperatures:
            kwargs = dict(base)
            if t > 0:
                kwargs.pop("beam_size")
            else:
                kwargs.pop("best_of")
            decoded = self.model.decode(mel[todo], whisper.DecodingOptions(**kwargs, temperature=t))
            if probs is None:
                probs = self.detected.take()
            retry = []
            for i, r in zip(todo, decoded):
                results[i] = r
                needs = (crt is not None and r.compression_ratio > crt) or (lpt is not None and r.avg_logprob < lpt)
                if nst is not None and r.no_speech_prob > nst and lpt is not None and r.avg_logprob < lpt:
                    needs = False  # silence
                if needs:
                    retry.append(i)
            todo = retry
            if not todo:
                break
        out = []
        tb = self.tokenizer.timestamp_begin
        for k, (w, r) in enumerate(zip(windows, results)):
            skip = nst is not None and r.no_speech_prob > nst and not (lpt is not None and r.avg_logprob > lpt)
            segments = []
            if not skip:
                segments = chunking.segments_from_tokens(
                    r.tokens, tb, self.tokenizer.eot, self.tokenizer.decode, len(w) / 16000,
                    avg_logprob=float(r.avg_logprob), no_speech_prob=float(r.no_speech_prob),
                    compression_ratio=float(r.compression_ratio), temperature=float(r.temperature),
                )
                if options.word_timestamps and segments:
                    segments = self._add_words(segments, mel[k], len(w), r.language, options.task)
            out.append(chunking.WindowResult(segments, language=r.language,
                                             language_probability=probs[k].get(r.language) if probs else None))
        return out

    def _add_words(self, segments: list[Segment], mel, n_samples: int, language: str | None,
                   task: str) -> list[Segment]:
        """One window's segments with words timed by openai-whisper's own alignment
        (`whisper.timing.add_word_timestamps`, as whisper.transcribe calls it on each window;
        it may move a segment's start/end to its words', as there)."""
        from whisper.audio import HOP_LENGTH
        from whisper.timing import add_word_timestamps
        from whisper.tokenizer import get_tokenizer

        tokenizer = get_tokenizer(self.model.is_multilingual, num_languages=self.model.num_languages,
                                  language=language, task=task)
        dicts = [{"seek": 0, "start": s.start, "end": s.end, "tokens": list(s.tokens)} for s in segments]
        add_word_timestamps(segments=dicts, model=self.model, tokenizer=tokenizer, mel=mel,
                            num_frames=n_samples // HOP_LENGTH, last_speech_timestamp=0.0)
        return [dataclasses.replace(s, start=float(d["start"]), end=float(d["end"]), words=tuple(
            Word(float(w["start"]), float(w["end"]), w["word"], float(w["probability"])) for w in d.get("words", [])))
            for s, d in zip(segments, dicts)]

    def _synchronize(self) -> None:
        torch_common.synchronize(self.load_options.device)

    def close(self) -> None:
        self.model = None
