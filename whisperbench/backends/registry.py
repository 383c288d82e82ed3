"""The backend registry: one `BackendSpec` per runtime, declared in its package
(`whisperbench/backends/<runtime>/__init__.py` defines `SPEC`) and listed once in
`whisperbench.backends.RUNTIMES`.

Nothing here imports a runtime. `get(name)` imports our adapter module (which itself
imports its runtime only when a model is loaded) after checking the runtime is installed.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
from dataclasses import dataclass
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from whisperbench.errors import BackendNotFoundError, BackendNotInstalledError

if TYPE_CHECKING:
    from whisperbench.backends.base import Backend
    from whisperbench.backends.synthetic_base import SyntheticPrimitives


@dataclass(frozen=True)
class BackendSpec:
    """What whisperbench knows about a runtime without importing it."""

    name: str
    target: str  # our adapter: "package.module:Class"
    requires: tuple[str, ...]  # importable top-level modules the runtime needs
    extra: str | None  # pip extra that installs them
    description: str
    # The runtime's own name as its users know it (error messages): "whisper.cpp".
    runtime: str = ""
    # Other names `spec()` accepts.
    aliases: tuple[str, ...] = ()
    # Distributions whose versions identify the runtime (recorded with every result).
    packages: tuple[str, ...] = ()
    # The weight format the runtime reads: a name in whisperbench.conversion.formats, or "none".
    weight_format: str = "none"
    # Preflight: optional "module:function" returning what else is missing (non-Python needs
    # such as a program or Node packages), as short install hints; [] when ready. Must
    # import no runtime.
    check: str | None = None
    # The runtime's synthetic-timing primitives, "module:Class" (a `SyntheticPrimitives`),
    # or None when it has none.
    synthetic: str | None = None

    @property
    def runtime_name(self) -> str:
        return self.runtime or self.name


_REGISTRY: dict[str, BackendSpec] = {}
_ALIASES: dict[str, str] = {}
# The entries of `whisperbench.backends.RUNTIMES`, as registered on import (`mark_builtin`).
_BUILTIN: dict[str, BackendSpec] = {}

# Entries registered at run time (a plugin, a test's toy backend) reach child processes
# (suite cells, synthetic cells) through this variable, as JSON; importing
# `whisperbench.backends` there registers them again. Their targets must be importable there.
ENV_VAR = "WHISPERBENCH_BACKENDS"


def register(spec: BackendSpec) -> None:
    """Add (or replace) a backend; its aliases resolve to it."""
    _REGISTRY[spec.name] = spec
    for alias in spec.aliases:
        _ALIASES[alias] = spec.name


def unregister(name: str) -> None:
    """Remove a backend and its aliases (nothing happens for an unknown name)."""
    spec = _REGISTRY.pop(name, None)
    if spec is not None:
        for alias in spec.aliases:
            if _ALIASES.get(alias) == name:
                del _ALIASES[alias]


@contextmanager
def registered(spec: BackendSpec) -> Iterator[BackendSpec]:
    """`spec` registered for the duration of a `with` block (whatever it replaced comes back)."""
    before = _REGISTRY.get(spec.name)
    register(spec)
    try:
        yield spec
    finally:
        unregister(spec.name)
        if before is not None:
            register(before)


def mark_builtin() -> None:
    """Record the entries registered so far as the built-in ones (not passed to children)."""
    _BUILTIN.update(_REGISTRY)


def added_specs() -> list[BackendSpec]:
    """Entries registered at run time: not built in, or replacing a built-in one."""
    return [s for n, s in sorted(_REGISTRY.items()) if _BUILTIN.get(n) is not s]


def child_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for a child process, carrying the entries registered at run time (`ENV_VAR`)."""
    env = {k: v for k, v in env.items() if k != ENV_VAR}
    added = added_specs()
    if added:
        env[ENV_VAR] = json.dumps([dataclasses.asdict(s) for s in added])
    return env


def register_from_env(environ: Mapping[str, str] = os.environ) -> None:
    """Register the entries a parent process passed in `ENV_VAR`."""
    for fields in json.loads(environ.get(ENV_VAR) or "[]"):
        register(BackendSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}))


def names() -> list[str]:
    return sorted(_REGISTRY)


def spec(name: str) -> BackendSpec:
    key = _ALIASES.get(name, name)
    if key not in _REGISTRY:
        raise BackendNotFoundError(f"unknown backend {name!r}; valid backends: {', '.join(names())}")
    return _REGISTRY[key]


def runtime_name(name: str) -> str:
    """The runtime's own name for a backend name (the name itself when not registered)."""
    try:
        return spec(name).runtime_name
    except BackendNotFoundError:
        return name


def resolve_target(target: str) -> Any:
    """The object a "module:attribute" string names (imports the module)."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def missing_modules(name: str) -> list[str]:
    s = spec(name)
    missing = [m for m in s.requires if importlib.util.find_spec(m) is None]
    if s.check and not missing:
        missing += list(resolve_target(s.check)())
    return missing


def is_installed(name: str) -> bool:
    return not missing_modules(name)


def install_hint(name: str) -> str:
    s = spec(name)
    return f"pip install 'whisperbench[{s.extra}]'" if s.extra else "see the README"


def get(name: str) -> type["Backend"]:
    """The backend class for `name`; clear errors for unknown or uninstalled backends."""
    s = spec(name)
    missing = missing_modules(s.name)
    if missing:
        raise BackendNotInstalledError(
            f"backend {s.name!r} needs {', '.join(missing)}, which is not installed; "
            f"install it with: {install_hint(s.name)}"
        )
    return adapter_class(s.name)


def adapter_class(name: str) -> type["Backend"]:
    """Our adapter class, importable without its runtime (capabilities are class data)."""
    return resolve_target(spec(name).target)


def synthetic_class(name: str) -> type["SyntheticPrimitives"] | None:
    """The runtime's synthetic-timing primitives (importing them imports no runtime), or
    None when it has none."""
    target = spec(name).synthetic
    return resolve_target(target) if target else None


def load(name: str, model: str, **load_options) -> "Backend":
    """Convenience: `load("ctranslate2", "fixture:tiny.en", compute_type="int8")`."""
    from whisperbench.options import LoadOptions

    return get(name)(model, LoadOptions(**load_options))
