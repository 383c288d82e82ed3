"""Lazy backend registry: a name maps to "module:Class" and the runtime modules it needs.

Nothing here imports a runtime. `get(name)` imports our adapter module (which itself
imports its runtime only when a model is loaded) after checking the runtime is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING

from whisperbench.errors import BackendNotFoundError, BackendNotInstalledError

if TYPE_CHECKING:
    from whisperbench.backends.base import Backend


@dataclass(frozen=True)
class BackendSpec:
    name: str
    target: str  # "package.module:Class"
    requires: tuple[str, ...]  # importable top-level modules the runtime needs
    extra: str | None  # pip extra that installs them
    description: str
    # Optional "module:function" returning what else is missing (non-Python needs such as a
    # program or Node packages), as short install hints; [] when ready. Must import no runtime.
    check: str | None = None


_REGISTRY: dict[str, BackendSpec] = {}
_ALIASES: dict[str, str] = {}


def register(spec: BackendSpec, aliases: tuple[str, ...] = ()) -> None:
    _REGISTRY[spec.name] = spec
    for alias in aliases:
        _ALIASES[alias] = spec.name


register(
    BackendSpec(
        "ctranslate2",
        "whisperbench.backends.ctranslate2_backend:CTranslate2Backend",
        ("faster_whisper", "ctranslate2"),
        "ctranslate2",
        "CTranslate2 via faster-whisper",
    ),
    aliases=("faster-whisper", "faster_whisper", "ct2"),
)
register(
    BackendSpec(
        "dummy",
        "whisperbench.backends.dummy:DummyBackend",
        (),
        None,
        "no model: returns a scripted transcript (tests and harness checks)",
    ),
)


register(
    BackendSpec(
        "transformers",
        "whisperbench.backends.transformers_backend:TransformersBackend",
        ("transformers", "torch"),
        "transformers",
        "Hugging Face Transformers (PyTorch): generate, long-form generate, ASR pipeline",
    ),
    aliases=("hf", "huggingface"),
)
register(
    BackendSpec(
        "whispercpp",
        "whisperbench.backends.whispercpp_backend:WhisperCppBackend",
        ("pywhispercpp",),
        "whispercpp",
        "whisper.cpp via pywhispercpp (ggml weights)",
    ),
    aliases=("whisper.cpp", "whisper-cpp", "pywhispercpp"),
)
register(
    BackendSpec(
        "openai",
        "whisperbench.backends.openai_backend:OpenAIWhisperBackend",
        ("whisper", "torch"),
        "openai",
        "openai-whisper, the reference PyTorch implementation",
    ),
    aliases=("openai-whisper", "openai_whisper"),
)
register(
    BackendSpec(
        "transformersjs",
        "whisperbench.backends.transformersjs_backend:TransformersJsBackend",
        (),
        "transformersjs",
        "Transformers.js (Node.js + ONNX Runtime) in a long-lived worker process",
        check="whisperbench.backends.transformersjs_backend:missing_runtime",
    ),
    aliases=("transformers.js", "transformers-js", "tjs"),
)


def names() -> list[str]:
    return sorted(_REGISTRY)


def spec(name: str) -> BackendSpec:
    key = _ALIASES.get(name, name)
    if key not in _REGISTRY:
        raise BackendNotFoundError(f"unknown backend {name!r}; valid backends: {', '.join(names())}")
    return _REGISTRY[key]


def missing_modules(name: str) -> list[str]:
    s = spec(name)
    missing = [m for m in s.requires if importlib.util.find_spec(m) is None]
    if s.check and not missing:
        module_name, _, func = s.check.partition(":")
        missing += list(getattr(importlib.import_module(module_name), func)())
    return missing


def is_installed(name: str) -> bool:
    return not missing_modules(name)


def get(name: str) -> type["Backend"]:
    """The backend class for `name`; clear errors for unknown or uninstalled backends."""
    s = spec(name)
    missing = missing_modules(s.name)
    if missing:
        hint = f"pip install 'whisperbench[{s.extra}]'" if s.extra else "see the README"
        raise BackendNotInstalledError(
            f"backend {s.name!r} needs {', '.join(missing)}, which is not installed; install it with: {hint}"
        )
    return adapter_class(s.name)


def adapter_class(name: str) -> type["Backend"]:
    """Our adapter class, importable without its runtime (capabilities are class data)."""
    s = spec(name)
    module_name, _, cls_name = s.target.partition(":")
    return getattr(importlib.import_module(module_name), cls_name)


def load(name: str, model: str, **load_options) -> "Backend":
    """Convenience: `load("ctranslate2", "fixture:tiny.en", compute_type="int8")`."""
    from whisperbench.options import LoadOptions

    return get(name)(model, LoadOptions(**load_options))
