"""Text normalization for WER: openai-whisper's `EnglishTextNormalizer`, used as shipped.

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


def normalizer_version() -> str:
    """Recorded with every WER so scores from different normalizers are never mixed."""
    try:
        return f"openai-whisper=={version('openai-whisper')}:EnglishTextNormalizer"
    except PackageNotFoundError:
        return "unavailable"


@lru_cache(maxsize=1)
def english_normalizer() -> Callable[[str], str]:
    if "whisper.normalizers" in sys.modules:
        return sys.modules["whisper.normalizers"].EnglishTextNormalizer()
    spec = importlib.util.find_spec("whisper")
    if spec is None or spec.origin is None:
        raise WhisperbenchError(
            "WER needs openai-whisper's EnglishTextNormalizer; install it with: pip install 'whisperbench[bench]'"
        )
    pkg = Path(spec.origin).parent / "normalizers"
    name = "_whisperbench_whisper_normalizers"
    sub = importlib.util.spec_from_file_location(name, pkg / "__init__.py", submodule_search_locations=[str(pkg)])
    module = importlib.util.module_from_spec(sub)
    sys.modules[name] = module
    sub.loader.exec_module(module)
    return module.EnglishTextNormalizer()


def normalize(text: str) -> str:
    return english_normalizer()(text)


_BRACKETS = str.maketrans({c: " " for c in "()[]<>"})


def reference_words_dropped(reference: str) -> int:
    """Reference words the normalizer deletes beyond punctuation and case.

    Whisper's English normalizer deletes whole bracketed spans, "( ... )", "[ ... ]" and
    "< ... >", meant for annotations such as "[noise]"; in a reference that holds real
    words in parentheses they vanish from the reference too, and a correct transcript
    scores them as insertions. Counted as the words the normalizer keeps when the brackets
    are removed but it drops with them (fillers and spelling rules apply alike to both).
    """
    if not any(c in reference for c in "([<"):
        return 0
    return max(0, len(normalize(reference.translate(_BRACKETS)).split()) - len(normalize(reference).split()))
