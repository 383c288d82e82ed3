"""The `Backend` interface every runtime adapter implements."""

from __future__ import annotations

import dataclasses
import os
import time
from importlib.metadata import PackageNotFoundError, version
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from whisperbench import models
from whisperbench.audio import AudioInput, duration_seconds, read_audio
from whisperbench.backends import vad, vad_decode
from whisperbench.conversion import check, ensure_format
from whisperbench.conversion.formats import detect_format
from whisperbench.errors import ModelError, UnsupportedOptionError, WhisperbenchError
from whisperbench.options import MAX_PROMPT_TOKENS, MAX_TARGET_POSITIONS, WINDOW_SECONDS, DecodeOptions, LoadOptions
from whisperbench.results import Timing, Transcription


# Set (to 1) to let the runtimes print their own logs and progress bars (`--verbose`); the
# environment carries it to the suite runner's cell processes.
VERBOSE_ENV = "WHISPERBENCH_VERBOSE"


def runtime_verbose() -> bool:
    """Whether the runtimes may print their own output; by default every backend silences
    it through the runtime's own switches (`Backend._quiet_runtime`)."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do. Anything not listed is rejected with a clear error."""

    # The weight format the runtime reads: a name in whisperbench.conversion.formats (or "none").
    model_format: str
    # algorithm -> implementation that runs it (a runtime API or "whisperbench.chunking").
    algorithms: Mapping[str, str]
    # device kind ("cpu", "cuda", "mps") -> compute types accepted there; the first is the default.
    compute_types: Mapping[str, Sequence[str]]
    # Several inputs decoded in one runtime call (`Backend.transcribe_batch`).
    batching: bool = False
    # The runtime call that decodes a batch, when it differs from the algorithm's (results
    # of a batch record it as their implementation).
    batch_implementation: str = ""
    word_timestamps: bool = False
    # How word times are made (backends.word_timing.METHODS), recorded in each result's
    # extra['word_timing'] when word_timestamps is on.
    word_timing: str = ""
    beam_search: bool = True
    temperature_fallback: bool = True
    condition_on_previous_text: bool = True
    # compression-ratio / log-prob / no-speech thresholds
    thresholds: bool = True
    # Disabling timestamp prediction.
    timestamps_off: bool = True
    translate: bool = True
    language_detection: bool = True
    max_new_tokens: bool = True
    # A text prompt as the decoder's previous context (DecodeOptions.initial_prompt).
    initial_prompt: bool = True
    # The runtime's own voice-activity detection (decode option vad='runtime'): what runs
    # it, or "" where the runtime has none.
    runtime_vad: str = ""
    # LoadOptions.extra keys the backend understands, with a one-line description each.
    extra_options: Mapping[str, str] = field(default_factory=dict)
    # Options this backend cannot honour at all, with why (shown by `whisperbench backends`).
    notes: Sequence[str] = ()

    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(self.compute_types)

    def describe(self) -> dict[str, Any]:
        return {
            "model_format": self.model_format,
            "algorithms": dict(self.algorithms),
            "devices": {k: list(v) for k, v in self.compute_types.items()},
            "batching": self.batching,
            "batch_implementation": self.batch_implementation,
            "word_timestamps": self.word_timestamps,
            "word_timing": self.word_timing,
            "beam_search": self.beam_search,
            "temperature_fallback": self.temperature_fallback,
            "condition_on_previous_text": self.condition_on_previous_text,
            "thresholds": self.thresholds,
            "timestamps_off": self.timestamps_off,
            "translate": self.translate,
            "language_detection": self.language_detection,
            "max_new_tokens": self.max_new_tokens,
            "initial_prompt": self.initial_prompt,
            "runtime_vad": self.runtime_vad,
            "extra_options": dict(self.extra_options),
            "notes": list(self.notes),
        }


def device_kind(device: str) -> str:
    return device.split(":", 1)[0]


class Backend(ABC):
    """Load one model, transcribe audio with `DecodeOptions`, return `Transcription`s.

    Subclasses implement `_load` and `_transcribe` (and `_transcribe_batch` when the
    runtime batches). The base class validates options against `capabilities`, decodes
    audio outside the timed region, and times the whole decode with outputs fully
    materialized (and the device synchronized, via `_synchronize`).
    """

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    # Distributions whose versions identify the runtime (recorded with every result).
    runtime_packages: ClassVar[tuple[str, ...]] = ()
    # Set by `_load` from the model: English-only models refuse other languages and translation.
    multilingual: bool = True

    def __init__(self, model: str, load_options: LoadOptions | None = None) -> None:
        self.model_spec = model
        self.load_options = self.resolve_load_options(load_options or LoadOptions())
        if not runtime_verbose():
            self._quiet_runtime()
        t0 = time.perf_counter()
        self._load(model, self.load_options)
        self._synchronize()
        self.load_seconds = time.perf_counter() - t0

    def _quiet_runtime(self) -> None:
        """Silence the runtime's own progress bars and logs with its own switches (before
        it loads; not called when `runtime_verbose()`). Our output and errors are unaffected."""

    # ----- validation -------------------------------------------------------------
    @classmethod
    def resolve_load_options(cls, opts: LoadOptions, *, device_here: bool = True) -> LoadOptions:
        """Check device, compute type and extras; fill in defaults. Raises on anything
        this backend cannot do. `device_here=False` (cells that will run on other machines,
        e.g. Ray nodes) skips checking that this machine has the device."""
        caps = cls.capabilities
        device = cls._resolve_device(opts.device, device_here)
        kind = device_kind(device)
        if kind not in caps.compute_types:
            raise UnsupportedOptionError(
                f"backend {cls.name!r} does not run on device {kind!r}; devices: {', '.join(caps.devices)}"
            )
        allowed = list(caps.compute_types[kind])
        compute_type = allowed[0] if opts.compute_type == "default" else opts.compute_type
        if compute_type not in allowed:
            raise UnsupportedOptionError(
                f"backend {cls.name!r} cannot use compute type {compute_type!r} on {kind}; "
                f"valid there: {', '.join(allowed)}"
            )
        unknown = sorted(set(opts.extra) - set(caps.extra_options))
        if unknown:
            valid = ", ".join(sorted(caps.extra_options)) or "none"
            raise UnsupportedOptionError(
                f"backend {cls.name!r} does not understand option(s) {', '.join(unknown)}; valid: {valid}"
            )
        return LoadOptions(device=device, compute_type=compute_type, threads=opts.threads, extra=opts.extra)

    @classmethod
    def _resolve_device(cls, device: str, here: bool = True) -> str:
        """Map "auto" to a concrete device and check the device can be used (when `here`).
        Backends whose runtime can probe devices override `_device_available` (and
        `_device_problem` to say why not)."""
        if device == "auto":
            device = "cuda" if cls._device_available("cuda") else "cpu"
        kind = device_kind(device)
        if here and kind != "cpu" and kind in cls.capabilities.compute_types:
            problem = cls._device_problem(kind)
            if problem:
                raise UnsupportedOptionError(f"device {device!r} is not available on this machine: {problem}")
        return device

    @classmethod
    def _device_available(cls, kind: str) -> bool:
        return kind == "cpu"

    @classmethod
    def _device_problem(cls, kind: str) -> str | None:
        """Why this runtime cannot use a device kind here (None: it can)."""
        return None if cls._device_available(kind) else f"{cls.name} finds no {kind} device"

    @classmethod
    def check_options(cls, options: DecodeOptions) -> None:
        """Raise `UnsupportedOptionError` naming the first option this backend cannot honour."""
        caps = cls.capabilities

        no = cls._unsupported
        if options.algorithm not in caps.algorithms:
            raise no(f"algorithm={options.algorithm!r}", f"supported: {', '.join(caps.algorithms)}")
        if options.beam_size > 1 and not caps.beam_search:
            raise no(f"beam_size={options.beam_size}", "no beam search in this runtime")
        if options.best_of > 1 and not caps.temperature_fallback:
            raise no(f"best_of={options.best_of}", "no sampling fallback in this runtime")
        if options.uses_fallback and not caps.temperature_fallback:
            raise no(f"temperatures={options.temperatures}", "no temperature fallback in this runtime")
        if options.condition_on_previous_text and not caps.condition_on_previous_text:
            raise no("condition_on_previous_text=True", "not supported by this runtime")
        if options.condition_on_previous_text and options.algorithm != "sequential":
            raise no(
                "condition_on_previous_text=True",
                f"conditioning applies to algorithm='sequential' only, not {options.algorithm!r}",
            )
        if options.word_timestamps and not caps.word_timestamps:
            raise no("word_timestamps=True", "no word-level timestamps in this runtime")
        if not options.timestamps and not caps.timestamps_off:
            raise no("timestamps=False", "this runtime always predicts timestamps")
        if options.task == "translate" and not caps.translate:
            raise no("task='translate'", "not supported by this runtime")
        if options.max_new_tokens is not None and not caps.max_new_tokens:
            raise no(f"max_new_tokens={options.max_new_tokens}", "not supported by this runtime")
        if options.initial_prompt is not None and not caps.initial_prompt:
            raise no("initial_prompt", "this runtime takes no text prompt")
        if options.vad == "runtime" and not caps.runtime_vad:
            raise no("vad='runtime'", "this runtime has no voice-activity detection of its own; "
                     "use vad='silero' (whisperbench's, on every backend)")
        cls._check_backend_options(options)

    @classmethod
    def _check_backend_options(cls, options: DecodeOptions) -> None:
        """Backend-specific checks on option combinations (override when needed)."""

    @classmethod
    def _unsupported(cls, option: str, why: str) -> UnsupportedOptionError:
        return UnsupportedOptionError(f"backend {cls.name!r} cannot honour {option}: {why}")

    def resolve_options(self, options: DecodeOptions) -> DecodeOptions:
        """The options as this loaded model runs them: an English-only model given no
        language decodes English, in every runtime (the result records language 'en')."""
        if options.language is None and not self.multilingual:
            return options.replace(language="en")
        return options

    def _count_tokens(self, text: str) -> int | None:
        """How many tokens the loaded model's tokenizer makes of `text` (None: this backend
        has no tokenizer at hand, and the runtime judges the prompt's length itself)."""
        return None

    def _check_prompt_room(self, options: DecodeOptions) -> None:
        """Refuse an initial prompt (of which the runtimes keep the last MAX_PROMPT_TOKENS)
        that, with <|startofprev|>, the start tokens and max_new_tokens, does not fit in
        Whisper's decoder context: faster-whisper and transformers raise on it, openai-whisper
        cuts the generation short."""
        if options.prompt_text is None or options.max_new_tokens is None:
            return
        tokens = self._count_tokens(options.prompt_text)
        if tokens is None:
            return
        start = (3 if self.multilingual else 1) + (not options.timestamps)  # <|sot|>[<|lang|><|task|>][<|notimestamps|>]
        need = 1 + min(tokens, MAX_PROMPT_TOKENS) + start + options.max_new_tokens
        if need > MAX_TARGET_POSITIONS:
            raise self._unsupported(
                f"initial_prompt ({tokens} tokens) with max_new_tokens={options.max_new_tokens}",
                f"together they need {need} of Whisper's {MAX_TARGET_POSITIONS} decoder positions; "
                "shorten the prompt or lower max_new_tokens")

    def _check_model_options(self, options: DecodeOptions) -> None:
        """Checks that depend on the loaded model rather than the runtime (on resolved options)."""
        if options.language is None and not self.capabilities.language_detection:
            # Only a multilingual model gets here with no language (see resolve_options).
            raise self._unsupported("language=None", "no language detection; pass a language")
        if not self.multilingual:
            if options.task == "translate":
                raise UnsupportedOptionError("task='translate' needs a multilingual model; this one is English-only")
            if options.language not in (None, "en"):
                raise UnsupportedOptionError(
                    f"language={options.language!r} with an English-only model; use 'en' or a multilingual model"
                )
        self._check_prompt_room(options)

    # ----- transcription ----------------------------------------------------------
    def transcribe(self, audio: AudioInput, options: DecodeOptions | None = None) -> Transcription:
        options = self.resolve_options(options or DecodeOptions())
        self.check_options(options)
        self._check_model_options(options)
        decoded = read_audio(audio, announce=True)  # a warning also lands in extra['audio_warning']
        samples = decoded.samples
        self._check_length(samples, options)
        if options.vad == "silero":
            vad.load()  # a one-off load stays out of the timed region
        t0 = time.perf_counter()
        if options.vad == "silero":  # detection inside the timed region (backends.vad_decode)
            raw = vad_decode.transcribe_speech(samples, options, self._transcribe)
        else:
            raw = self._transcribe(samples, options)
        self._synchronize()
        elapsed = time.perf_counter() - t0
        return self._finish(raw, samples, options, elapsed, decoded.warning)

    def transcribe_batch(
        self, audios: Sequence[AudioInput], options: DecodeOptions | None = None
    ) -> list[Transcription]:
        """Transcribe several inputs in one runtime call (each result then carries the
        batch's wall time divided evenly, and `extra['batch_seconds']` / `['batch_size']`).
        A runtime without batching decodes them one at a time; one that batches only some
        options raises `UnsupportedOptionError` for the others (`check_batch_options`)."""
        options = self.resolve_options(options or DecodeOptions())
        self.check_options(options)
        self._check_model_options(options)
        if self.capabilities.batching:
            self.check_batch_options(options)
        decoded = [read_audio(a, announce=True) for a in audios]
        batch = [d.samples for d in decoded]
        if not batch:
            return []
        for samples in batch:
            self._check_length(samples, options)
        if not self.capabilities.batching:
            results = [self.transcribe(s, options) for s in batch]
            for res, d in zip(results, decoded):
                if d.warning:
                    res.extra["audio_warning"] = d.warning
            return results
        t0 = time.perf_counter()
        raws = self._transcribe_batch(batch, options)
        self._synchronize()
        elapsed = time.perf_counter() - t0
        results = []
        for raw, d in zip(raws, decoded):
            res = self._finish(raw, d.samples, options, elapsed / len(batch), d.warning)
            if self.capabilities.batch_implementation:
                res = dataclasses.replace(res, implementation=self.capabilities.batch_implementation)
            res.extra["batch_seconds"] = elapsed
            res.extra["batch_size"] = len(batch)
            results.append(res)
        return results

    @classmethod
    def check_batch_options(cls, options: DecodeOptions) -> None:
        """Raise `UnsupportedOptionError` unless this runtime decodes a batch of inputs with
        these options in one call."""
        if not cls.capabilities.batching:
            raise cls._unsupported("a batch of inputs", "this runtime decodes one input per call")
        if options.vad != "none":
            raise cls._unsupported(f"a batch of inputs with vad={options.vad!r}",
                                   "voice-activity detection applies to one input per call")
        cls._check_batch_options(options)

    @classmethod
    def _check_batch_options(cls, options: DecodeOptions) -> None:
        """Backend-specific limits of batched decoding (override when needed)."""

    @classmethod
    def _short_batches_only(cls, options: DecodeOptions) -> None:
        """The limits of a batch decoded as short-form windows by one generate call."""
        if options.algorithm != "short":
            raise cls._unsupported(f"a batch of inputs with algorithm={options.algorithm!r}",
                                   "batches decode short-form windows (algorithm 'short') only")
        if options.uses_fallback:
            raise cls._unsupported(f"a batch of inputs with temperatures={options.temperatures}",
                                   "a batch decodes at one temperature (no fallback)")
        if options.word_timestamps:
            raise cls._unsupported("a batch of inputs with word_timestamps=True", "not in batched decoding")

    def _check_length(self, samples: np.ndarray, options: DecodeOptions) -> None:
        seconds = duration_seconds(samples)
        if options.algorithm == "short" and seconds > WINDOW_SECONDS + 1e-3:
            raise WhisperbenchError(
                f"algorithm='short' decodes one {WINDOW_SECONDS:g} s window but the input is {seconds:.1f} s; "
                "use algorithm 'sequential' or 'chunked' for long-form audio"
            )

    def _finish(self, raw: "RawResult", samples: np.ndarray, options: DecodeOptions, elapsed: float,
                audio_warning: str | None = None) -> Transcription:
        audio_seconds = duration_seconds(samples)
        # Runtimes may stamp the last segment past the end of the input (timestamps are
        # quantized to 20 ms windows of padded audio); results stay inside the audio.
        segments = [
            s if 0.0 <= s.start <= s.end <= audio_seconds
            else dataclasses.replace(s, start=min(max(s.start, 0.0), audio_seconds),
                                     end=min(max(s.end, s.start, 0.0), audio_seconds))
            for s in raw.segments
        ]
        timing = Timing(
            load_seconds=self.load_seconds,
            decode_seconds=elapsed,
            audio_seconds=audio_seconds,
            tokens_generated=sum(len(s.tokens) for s in segments),
        )
        text = raw.text if raw.text is not None else "".join(s.text for s in segments).strip()
        return Transcription(
            text=text.strip(),
            segments=tuple(segments),
            language=raw.language if raw.language is not None else options.language,
            language_probability=raw.language_probability,
            options=options,
            timing=timing,
            backend=self.name,
            implementation=self.capabilities.algorithms[options.algorithm],
            extra={**({"word_timing": self.capabilities.word_timing} if options.word_timestamps else {}),
                   **raw.extra, **({"audio_warning": audio_warning} if audio_warning else {})},
        )

    @abstractmethod
    def _load(self, model: str, load_options: LoadOptions) -> None: ...

    @abstractmethod
    def _transcribe(self, samples: np.ndarray, options: DecodeOptions) -> "RawResult":
        """Decode fully (consume every generator) and return the raw result."""

    def _transcribe_batch(self, batch: list[np.ndarray], options: DecodeOptions) -> list["RawResult"]:
        """Decode a batch in one runtime call. The default serves runtimes whose adapter
        decodes short-form windows in batches for the shared chunking layer (`_decode_windows`)."""
        decode_windows = getattr(self, "_decode_windows", None)
        if decode_windows is None:
            raise NotImplementedError
        return [RawResult(segments=list(w.segments), language=w.language, language_probability=w.language_probability)
                for w in decode_windows(batch, options)]

    def _synchronize(self) -> None:
        """Wait for queued device work (CUDA) before a clock is read."""

    # A runtime with its own device allocator (PyTorch) reports that allocator's peak; the
    # device-wide figure is `whisperbench.gpu.GpuMemoryMonitor`'s.
    @classmethod
    def reset_allocator_peak(cls, device: str) -> None: ...

    @classmethod
    def allocator_peak_mb(cls, device: str) -> float | None:
        return None

    # ----- identity -----------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Identity facts recorded with every result."""
        return {
            "backend": self.name,
            "runtime_version": self.runtime_version(),
            "model": self.model_spec,
            "model_format": self.capabilities.model_format,
            "device": self.load_options.device,
            "compute_type": self.load_options.compute_type,
            "threads": self.load_options.threads,
            "extra": dict(self.load_options.extra),
        }

    @classmethod
    def runtime_version(cls) -> str:
        if not cls.runtime_packages:
            return "unknown"
        try:
            return ", ".join(f"{p} {version(p)}" for p in cls.runtime_packages)
        except PackageNotFoundError:
            return "not installed"

    def close(self) -> None:
        """Release the model (memory, worker processes)."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class RawResult:
    """What a backend's `_transcribe` returns; the base class adds timing and identity."""

    segments: list
    language: str | None = None
    language_probability: float | None = None
    text: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelLocation:
    """Where a backend finds its model: a local path in its own format, or a hub id."""

    path: str | None
    hub_id: str | None
    # The format the local model was in when it had to be converted (None: used as is).
    converted_from: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"model_path": self.path, "hub_id": self.hub_id, "converted_from": self.converted_from}


def locate_model(model: str, fmt: str, backend: str, quantization: str | None = None) -> ModelLocation:
    """Resolve a model spec (fixture:NAME, a local path in any format, or a hub id) to
    `fmt`, converting a local model with `whisperbench.conversion.ensure_format` when it
    is in another format (or needs `quantization`). Raises ModelError saying why not."""
    source = models.resolve(model)
    if not source.is_local:
        return ModelLocation(None, source.hub_id)
    have = detect_format(source.path)
    if have == fmt and quantization is None:
        check(source.path)  # (a conversion below checks its source by reading it)
        return ModelLocation(str(source.path), None)
    try:
        path = ensure_format(model, fmt, quantization)
    except ModelError:
        raise
    except WhisperbenchError as exc:
        raise ModelError(f"cannot convert {model!r} ({have}) to {fmt} for backend {backend!r}: {exc}") from None
    return ModelLocation(str(path), None, converted_from=have if have != fmt else None)
