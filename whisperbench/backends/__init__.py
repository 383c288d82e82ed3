"""Backends: our adapter for each runtime, one package per runtime.

Each runtime lives in `whisperbench/backends/<runtime>/`, whose `__init__.py` declares its
registry entry, `SPEC` (a `BackendSpec`: name, aliases, extra, identifying packages, weight
format, preflight, adapter, synthetic-timing primitives). Adding a backend = that package +
one name in `RUNTIMES`. Importing this package imports no runtime (see `registry`).
"""

from __future__ import annotations

import importlib

from whisperbench.backends.registry import (
    _ALIASES,
    _REGISTRY,
    ENV_VAR,
    BackendSpec,
    adapter_class,
    get,
    install_hint,
    is_installed,
    load,
    mark_builtin,
    missing_modules,
    names,
    register,
    register_from_env,
    registered,
    resolve_target,
    runtime_name,
    spec,
    synthetic_class,
    unregister,
)

# The runtime packages under whisperbench/backends/ (each defines SPEC).
RUNTIMES = ("ctranslate2", "dummy", "openai", "openai_api", "transformers", "transformersjs", "whispercpp")

for _package in RUNTIMES:
    register(importlib.import_module(f"{__name__}.{_package}").SPEC)
mark_builtin()
register_from_env()  # entries a parent process registered at run time (registry.ENV_VAR)

__all__ = [
    "ENV_VAR", "RUNTIMES", "BackendSpec", "_ALIASES", "_REGISTRY", "adapter_class", "get", "install_hint", "is_installed",
    "load", "missing_modules", "names", "register", "registered", "resolve_target", "runtime_name", "spec", "synthetic_class",
    "unregister",
]
