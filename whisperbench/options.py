"""Decoding and loading options: frozen, validated in one place, hashable for results."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from whisperbench.errors import WhisperbenchError, warn

Algorithm = Literal["short", "sequential", "chunked"]
ALGORITHMS: tuple[str, ...] = ("short", "sequential", "chunked")
TASKS: tuple[str, ...] = ("transcribe", "translate")
VADS: tuple[str, ...] = ("none", "silero", "runtime")

# Whisper's context: one window is 30 s of audio and at most 448 decoder positions.
WINDOW_SECONDS = 30.0
MAX_TARGET_POSITIONS = 448
# Tokens of previous context a window's prompt keeps (the last ones): openai-whisper's,
# faster-whisper's and whisper.cpp's cut-off, n_text_ctx // 2 - 1.
MAX_PROMPT_TOKENS = MAX_TARGET_POSITIONS // 2 - 1
# Whisper's special-token syntax (<|en|>, <|endoftext|>): runtimes would read it as control tokens.
_SPECIAL_TOKEN = re.compile(r"<\|[^|<>]*\|>")
# Fields added after results were first stored, with the value they had in effect before: a
# field at that value is left out of `DecodeOptions.hash()`, so older results keep their hash.
ADDED_FIELDS: dict[str, Any] = {"initial_prompt": None}


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode. The same field means the same thing in every backend; a backend
    that cannot honour a value raises `UnsupportedOptionError` naming the field."""

    # short: one 30 s window (input must fit); sequential: Whisper's sliding-window
    # long-form algorithm; chunked: independent overlapping chunks, batched, merged.
    algorithm: Algorithm = "short"
    # Language code ("en", "fr", ...); None detects it from the first window.
    language: str | None = None
    # "transcribe" or "translate" (to English; multilingual models only).
    task: str = "transcribe"
    # 1 = greedy decoding; >1 = beam search with this many beams.
    beam_size: int = 1
    # Candidates sampled at each non-zero fallback temperature (the best is kept).
    best_of: int = 1
    # Temperature fallback: decode at temperatures[0]; when a threshold below fails,
    # retry at the next one. (0.0,) disables fallback.
    temperatures: tuple[float, ...] = (0.0,)
    # Feed the previous window's text as a prompt (sequential long-form only).
    condition_on_previous_text: bool = False
    # Fallback when gzip compression ratio of the text exceeds this (None: never).
    compression_ratio_threshold: float | None = 2.4
    # Fallback when the average token log-probability is below this (None: never).
    logprob_threshold: float | None = -1.0
    # Treat a window as silence when P(no speech) exceeds this and the log-probability
    # is below logprob_threshold (None: never).
    no_speech_threshold: float | None = 0.6
    # Predict timestamp tokens (segment boundaries). Off: one segment per window.
    timestamps: bool = True
    # Word-level timestamps via cross-attention alignment.
    word_timestamps: bool = False
    # Upper bound on generated tokens per window (None: the model's limit).
    max_new_tokens: int | None = None
    # chunked: chunk length in seconds (at most 30) and how many chunks per batch.
    chunk_length_s: float = 30.0
    batch_size: int = 1
    # Voice-activity detection before decoding. none: decode all the audio; silero:
    # whisperbench finds speech with Silero VAD and decodes only that, on every backend,
    # timestamps mapped back to the input (backends.vad_decode); runtime: the runtime's
    # own VAD (faster-whisper's vad_filter), refused where a runtime has none.
    vad: str = "none"
    # VAD: speech probability above which a frame is speech; silence shorter than
    # vad_min_silence_ms does not end a region; vad_speech_pad_ms pads each region.
    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 2000
    vad_speech_pad_ms: int = 400
    # Text given to the decoder as the previous context (Whisper's initial_prompt), for
    # vocabulary and style: in the one window (short); in the first window (sequential; with
    # condition_on_previous_text the runtime keeps it in the context until its own text pushes
    # it out); in every chunk (chunked: chunks are decoded independently, as faster-whisper's
    # batched pipeline and the Transformers pipeline give it to each). The last
    # MAX_PROMPT_TOKENS tokens are kept. None: no prompt.
    initial_prompt: str | None = None

    def __post_init__(self) -> None:
        # Accept lists from TOML/JSON but store a tuple so the options stay hashable.
        if not isinstance(self.temperatures, tuple):
            temps = self.temperatures
            if isinstance(temps, (int, float)):
                temps = (temps,)
            object.__setattr__(self, "temperatures", tuple(float(t) for t in temps))
        self.validate()

    def validate(self) -> None:
        def bad(name: str, why: str) -> WhisperbenchError:
            return WhisperbenchError(f"invalid decoding option {name}={getattr(self, name)!r}: {why}")

        if self.algorithm not in ALGORITHMS:
            raise bad("algorithm", f"choose one of {', '.join(ALGORITHMS)}")
        if self.task not in TASKS:
            raise bad("task", f"choose one of {', '.join(TASKS)}")
        if self.language is not None and not (isinstance(self.language, str) and self.language.strip()):
            raise bad("language", "a language code such as 'en', or None to detect")
        if not isinstance(self.beam_size, int) or isinstance(self.beam_size, bool) or self.beam_size < 1:
            raise bad("beam_size", "must be an integer >= 1 (1 = greedy)")
        if not isinstance(self.best_of, int) or isinstance(self.best_of, bool) or self.best_of < 1:
            raise bad("best_of", "must be an integer >= 1")
        if not self.temperatures:
            raise bad("temperatures", "needs at least one temperature")
        if any(t < 0 or t > 1.0 for t in self.temperatures):
            raise bad("temperatures", "each temperature must lie in [0, 1]")
        if list(self.temperatures) != sorted(self.temperatures):
            raise bad("temperatures", "the fallback sequence must be increasing")
        if self.max_new_tokens is not None and not (0 < self.max_new_tokens <= MAX_TARGET_POSITIONS // 2):
            raise bad("max_new_tokens", f"must be in 1..{MAX_TARGET_POSITIONS // 2} or None")
        if not (0 < self.chunk_length_s <= WINDOW_SECONDS):
            raise bad("chunk_length_s", f"must be in (0, {WINDOW_SECONDS:g}]")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise bad("batch_size", "must be an integer >= 1")
        if self.batch_size > 1 and self.algorithm != "chunked":
            raise bad("batch_size", "batching over chunks applies to algorithm='chunked' only")
        if self.word_timestamps and not self.timestamps:
            raise bad("word_timestamps", "needs timestamps=True")
        if self.vad not in VADS:
            raise bad("vad", f"choose one of {', '.join(VADS)}")
        if not (isinstance(self.vad_threshold, (int, float)) and 0 < self.vad_threshold < 1):
            raise bad("vad_threshold", "a speech probability in (0, 1)")
        for name in ("vad_min_silence_ms", "vad_speech_pad_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise bad(name, "must be an integer >= 0 (milliseconds)")
        if self.initial_prompt is not None:
            if not isinstance(self.initial_prompt, str) or not self.initial_prompt.strip():
                raise bad("initial_prompt", "text for the decoder's previous context, or None for no prompt")
            special = _SPECIAL_TOKEN.search(self.initial_prompt)
            if special:
                raise bad("initial_prompt", f"plain text only: {special.group()!r} is Whisper special-token syntax")

    @property
    def prompt_text(self) -> str | None:
        """initial_prompt as openai-whisper encodes it (" " + the stripped text), so that every
        runtime's tokenizer sees the same text."""
        return None if self.initial_prompt is None else " " + self.initial_prompt.strip()

    @property
    def uses_fallback(self) -> bool:
        return len(self.temperatures) > 1

    def replace(self, **changes: Any) -> "DecodeOptions":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["temperatures"] = list(self.temperatures)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DecodeOptions":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise WhisperbenchError(
                f"unknown decoding option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}"
            )
        return cls(**dict(data))

    def hash(self) -> str:
        """Stable short hash of every field: results with equal hashes decoded alike. With
        vad='none' the VAD fields are left out (they change nothing), and so is a field of
        ADDED_FIELDS at its earlier value, so results stored before those options existed keep
        their hash."""
        d = self.to_dict()
        if self.vad == "none":
            d = {k: v for k, v in d.items() if not k.startswith("vad")}
        d = {k: v for k, v in d.items() if not (k in ADDED_FIELDS and v == ADDED_FIELDS[k])}
        return stable_hash(d)


@dataclass(frozen=True)
class LoadOptions:
    """How to load a model: where it runs and what it computes in (`compute_type`)."""

    # "cpu", "cuda", "cuda:1", "mps", or "auto" (cuda when available, else cpu).
    device: str = "cpu"
    # What the runtime computes in, as it names it ("int8", "float16", ...);
    # "default" lets the backend pick its documented default for the device.
    compute_type: str = "default"
    # CPU threads for the runtime; 0 = the runtime's default.
    threads: int = 0
    # Backend-specific settings (e.g. attn_implementation for transformers); each
    # backend lists what it accepts and rejects the rest.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.threads, int) or self.threads < 0:
            raise WhisperbenchError(f"invalid threads={self.threads!r}: must be an integer >= 0")
        cpus = usable_cpus()
        if self.threads > cpus:
            warn(f"threads={self.threads} is more than the {cpus} CPU(s) this process may use; the runtime "
                 f"will oversubscribe them and run slower than with threads={cpus}")
        if not self.device:
            raise WhisperbenchError("device must not be empty")
        object.__setattr__(self, "extra", dict(self.extra))

    def __hash__(self) -> int:  # extra is a dict; hash its stable form
        return hash((self.device, self.compute_type, self.threads, stable_hash(dict(self.extra))))

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "compute_type": self.compute_type, "threads": self.threads, "extra": dict(self.extra)}


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), else the machine's count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def stable_hash(data: Any) -> str:
    blob = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
