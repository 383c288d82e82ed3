"""Text normalization for WER: openai-whisper's normalizers, used as shipped.

English (and text of no stated language) goes through `EnglishTextNormalizer`; every other
language through `BasicTextNormalizer` (lower case, brackets and punctuation removed), as
Whisper's paper and open_asr_leaderboard's multilingual track score them. Languages written
without spaces between words (`NO_SPACE_LANGUAGES`) are scored by CER first: their
whitespace-split "words" are phrases, so WER says little there.

Chinese is scored in one script (`SCRIPT_CONVERSIONS`): Whisper writes Chinese in either
script (base mostly in Traditional characters, in Taiwan usage) while Common Voice zh-CN
references are Simplified, and a character written in the other script is no recognition
error. Both sides are converted to Simplified with OpenCC (the C++ library's own Python
binding, package `opencc`) after the basic normalizer, and the conversion and OpenCC's
version are part of the recorded normalizer identity. Without OpenCC, scoring Chinese
stops with one error; it never falls back to scoring the scripts against each other.
Japanese mixes kanji and kana by the writer's choice; no conversion makes that fair
without a reading dictionary (kana for both sides would score readings, not text), so
Japanese is left as written.

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

# Language -> the OpenCC configuration that brings its text to Simplified characters
# (module docstring). Phrase-aware, with the regional variants: Whisper's Traditional
# Mandarin follows Taiwan usage (看著 -> 看着), Cantonese Hong Kong usage (衞 -> 卫).
SCRIPT_CONVERSIONS = {"zh": "tw2s", "yue": "hk2s"}


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


def script_conversion(language: str | None) -> str | None:
    """The OpenCC configuration both sides go through before scoring in `language`, if any."""
    return SCRIPT_CONVERSIONS.get(language_code(language) or "")


def normalizer_version(language: str | None = None) -> str:
    """Recorded with every WER so scores from different normalizers are never mixed.
    Raises WhisperbenchError where the language needs OpenCC and it is not installed."""
    conversion = script_conversion(language)
    script = f"+opencc=={_opencc_version()}:{conversion}" if conversion else ""
    try:
        return f"openai-whisper=={version('openai-whisper')}:{normalizer_name(language)}{script}"
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


_NO_OPENCC = ("scoring Chinese converts both sides to Simplified characters with OpenCC, which is not "
              "installed; install it with: pip install 'whisperbench[bench]' (package opencc)")


def _opencc_version() -> str:
    try:  # the distribution, not the module: opencc-python-reimplemented also installs `opencc`
        return version("opencc")
    except PackageNotFoundError:
        raise WhisperbenchError(_NO_OPENCC) from None


@lru_cache(maxsize=None)
def script_converter(config: str) -> Callable[[str], str]:
    """OpenCC's converter for `config` (e.g. "tw2s"), as a function of text."""
    _opencc_version()
    try:
        import opencc
    except ImportError as exc:
        raise WhisperbenchError(f"{_NO_OPENCC} ({exc})") from None
    return opencc.OpenCC(config).convert


def normalize(text: str, language: str | None = None) -> str:
    """`text` normalized for scoring in `language` (None: English; module docstring)."""
    if is_english(language):
        return english_normalizer()(text)
    text = basic_normalizer()(text).strip()  # it leaves the space a final punctuation mark became
    conversion = script_conversion(language)
    # After the basic normalizer: its NFKC brings compatibility ideographs to the ones OpenCC knows.
    return script_converter(conversion)(text) if conversion else text


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
