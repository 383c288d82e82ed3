"""Text normalization for WER: openai-whisper's normalizers, used as shipped.

English (and text of no stated language) goes through `EnglishTextNormalizer`; every other
language through `BasicTextNormalizer` (lower case, brackets and punctuation removed), as
Whisper's paper and open_asr_leaderboard's multilingual track score them. Languages written
without spaces between words (`NO_SPACE_LANGUAGES`) are scored by CER first: their
whitespace-split "words" are phrases, so WER says little there.

openai-whisper's package `__init__` imports torch; the normalizers need only `regex`,
so when `whisper` is not already imported we load its `normalizers` subpackage on its
own (same files, no copy) to keep torch out of processes that do not need it.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable

from whisperbench.errors import WhisperbenchError


# Languages written without spaces between words (ISO 639-1 codes, and Whisper's "yue"):
# CER is their primary metric, computed with whitespace removed.
NO_SPACE_LANGUAGES = frozenset({"ja", "zh", "yue", "th", "lo", "my", "km", "bo"})


def language_code(language: str | None) -> str | None:
    """The language part of a code or locale, lower case: "zh-CN" -> "zh" (None stays None)."""
    return language.strip().lower().replace("_", "-").split("-")[0] or None if language else None


def is_english(language: str | None) -> bool:
    """Text of no stated language is scored as English (what every English set gives)."""
    return language_code(language) in (None, "en", "english")


def primary_metric(language: str | None) -> str:
    """"cer" for languages written without spaces, "wer" for the rest."""
    return "cer" if language_code(language) in NO_SPACE_LANGUAGES else "wer"


def normalizer_name(language: str | None = None) -> str:
    return "EnglishTextNormalizer" if is_english(language) else "BasicTextNormalizer"


def normalizer_version(language: str | None = None) -> str:
    """Recorded with every WER so scores from different normalizers are never mixed."""
    try:
        return f"openai-whisper=={version('openai-whisper')}:{normalizer_name(language)}"
    except PackageNotFoundError:
        return "unavailable"


@lru_cache(maxsize=1)
def english_normalizer() -> Callable[[str], str]:
    return _normalizers().EnglishTextNormalizer()


@lru_cache(maxsize=1)
def basic_normalizer() -> Callable[[str], str]:
    return _normalizers().BasicTextNormalizer()


@lru_cache(maxsize=1)
def _normalizers():
    """openai-whisper's `normalizers` subpackage (module docstring: without torch)."""
    if "whisper.normalizers" in sys.modules:
        return sys.modules["whisper.normalizers"]
    spec = importlib.util.find_spec("whisper")
    if spec is None or spec.origin is None:
        raise WhisperbenchError(
            "WER needs openai-whisper's text normalizers; install it with: pip install 'whisperbench[bench]'"
        )
    pkg = Path(spec.origin).parent / "normalizers"
    name = "_whisperbench_whisper_normalizers"
    sub = importlib.util.spec_from_file_location(name, pkg / "__init__.py", submodule_search_locations=[str(pkg)])
    module = importlib.util.module_from_spec(sub)
    sys.modules[name] = module
    sub.loader.exec_module(module)
    return module


def normalize(text: str, language: str | None = None) -> str:
    """`text` normalized for scoring in `language` (None: English; module docstring)."""
    if is_english(language):
        return english_normalizer()(text)
    return basic_normalizer()(text).strip()  # it leaves the space a final punctuation mark became


_BRACKETS = str.maketrans({c: " " for c in "()[]<>"})


def reference_words_dropped(reference: str, language: str | None = None) -> int:
    """Reference words the normalizer deletes beyond punctuation and case.

    Whisper's normalizers (English and basic) delete whole bracketed spans, "( ... )", "[ ... ]" and
    "< ... >", meant for annotations such as "[noise]"; in a reference that holds real
    words in parentheses they vanish from the reference too, and a correct transcript
    scores them as insertions. Counted as the words the normalizer keeps when the brackets
    are removed but it drops with them (fillers and spelling rules apply alike to both).
    """
    if not any(c in reference for c in "([<"):
        return 0
    kept = normalize(reference.translate(_BRACKETS), language).split()
    return max(0, len(kept) - len(normalize(reference, language).split()))
