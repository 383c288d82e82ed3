"""Proof of equivalence: decode the same audio greedily with two models, each in the runtime
its format belongs to, and compare the generated tokens and the normalized text.

It needs both weight formats (conversion) and runtimes (backends), so it sits above both."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from whisperbench import backends
from whisperbench.conversion import formats
from whisperbench.conversion.formats import detect_format
from whisperbench.errors import ConversionError
from whisperbench.options import DecodeOptions, LoadOptions


def backend_for_format() -> dict[str, str]:
    """format -> the backend that runs it: the first registered backend (by name) whose
    registry entry reads that weight format."""
    out: dict[str, str] = {}
    for name in backends.names():
        fmt = backends.spec(name).weight_format
        if fmt in formats.names():
            out.setdefault(fmt, name)
    return out


@dataclass
class FileComparison:
    audio: str
    tokens_a: list[int]
    tokens_b: list[int]
    text_a: str
    text_b: str
    token_agreement: float  # 1 - token edit distance / longer length
    exact: bool
    wer: float  # WER of B's normalized text against A's


@dataclass
class VerifyReport:
    model_a: str
    model_b: str
    backend_a: str
    backend_b: str
    files: list[FileComparison] = field(default_factory=list)

    @property
    def exact_rate(self) -> float:
        return sum(f.exact for f in self.files) / len(self.files) if self.files else 0.0

    @property
    def token_agreement(self) -> float:
        """Pooled over files: 1 - total token edits / total tokens of the longer side."""
        edits = sum(_edit_distance(f.tokens_a, f.tokens_b) for f in self.files)
        total = sum(max(len(f.tokens_a), len(f.tokens_b)) for f in self.files)
        return 1.0 - edits / total if total else 1.0

    @property
    def wer(self) -> float:
        """Corpus WER of B against A (A's normalized text as the reference)."""
        import jiwer

        from whisperbench.text import normalize

        refs = [normalize(f.text_a) or "<empty>" for f in self.files]
        hyps = [normalize(f.text_b) for f in self.files]
        return float(jiwer.wer(refs, hyps)) if self.files else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_a": self.model_a, "model_b": self.model_b, "backend_a": self.backend_a, "backend_b": self.backend_b,
            "exact_rate": self.exact_rate, "token_agreement": self.token_agreement, "wer": self.wer,
            "files": [asdict(f) for f in self.files],
        }


def _edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def backend_for(model: str) -> str:
    from whisperbench import models

    src = models.resolve(model)
    if src.path is None:
        raise ConversionError(f"verify needs local models; {model!r} is not a local path or fixture")
    fmt = detect_format(src.path)
    runs = backend_for_format()
    if fmt not in runs:
        raise ConversionError(f"no backend runs the {fmt} format for verification")
    return runs[fmt]


def greedy_options(language: str | None = "en", timestamps: bool = True) -> DecodeOptions:
    return DecodeOptions(algorithm="short", beam_size=1, temperatures=(0.0,), language=language, timestamps=timestamps)


def decode(model: str, backend: str, audio: Sequence[str | Path], options: DecodeOptions, load: LoadOptions | None = None):
    """Transcriptions of every file by one model in one backend (loaded once, closed after)."""
    instance = backends.get(backend)(model, load or LoadOptions())
    try:
        return [instance.transcribe(str(a), options) for a in audio]
    finally:
        close = getattr(instance, "close", None)
        if close:
            close()


def compare(model_a: str, model_b: str, backend_a: str, backend_b: str, audio: Sequence[str | Path], ra, rb) -> VerifyReport:
    """Build the report from two lists of Transcriptions of the same files."""
    import jiwer

    from whisperbench.text import normalize

    report = VerifyReport(str(model_a), str(model_b), backend_a, backend_b)
    for path, ta, tb in zip(audio, ra, rb):
        toks_a, toks_b = list(ta.tokens), list(tb.tokens)
        longest = max(len(toks_a), len(toks_b))
        agreement = 1.0 - _edit_distance(toks_a, toks_b) / longest if longest else 1.0
        ref, hyp = normalize(ta.text), normalize(tb.text)
        wer = float(jiwer.wer(ref, hyp)) if ref else float(bool(hyp))
        report.files.append(FileComparison(str(path), toks_a, toks_b, ta.text, tb.text, agreement, toks_a == toks_b, wer))
    return report


def verify(model_a: str | Path, model_b: str | Path, audio: Sequence[str | Path], language: str | None = "en",
           backend_a: str | None = None, backend_b: str | None = None, timestamps: bool = True,
           load_a: LoadOptions | None = None, load_b: LoadOptions | None = None) -> VerifyReport:
    """Greedy-decode every file with both models (temperature 0, no fallback) and compare."""
    if not audio:
        raise ConversionError("verify needs at least one audio file")
    a, b = str(model_a), str(model_b)
    backend_a = backend_a or backend_for(a)
    backend_b = backend_b or backend_for(b)
    options = greedy_options(language, timestamps)
    ra = decode(a, backend_a, audio, options, load_a)
    rb = decode(b, backend_b, audio, options, load_b)
    return compare(a, b, backend_a, backend_b, audio, ra, rb)
