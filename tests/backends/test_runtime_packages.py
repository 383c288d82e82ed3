"""Runtime packages and their registry entries: one package per runtime, one entry each, read by everything else."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from whisperbench import backends
from whisperbench.backends import BackendSpec
from whisperbench.errors import BackendNotFoundError

BACKENDS_DIR = Path(backends.__file__).parent


def test_every_runtime_package_is_listed_once_and_registered():
    """A package under backends/ that declares SPEC is in RUNTIMES (none forgotten), and
    each entry is named after its package."""
    declared = sorted(p.name for p in BACKENDS_DIR.iterdir()
                      if (p / "__init__.py").exists() and "SPEC =" in (p / "__init__.py").read_text())
    assert declared == sorted(backends.RUNTIMES) == sorted(map(package_of, backends.names()))
    for package in backends.RUNTIMES:
        spec = importlib.import_module(f"whisperbench.backends.{package}").SPEC
        assert package_of(spec.name) == package and backends.spec(spec.name) is spec
        assert spec.target.startswith(f"whisperbench.backends.{package}.")


def package_of(name: str) -> str:
    """The package a backend name lives in ('openai-api' in openai_api: a package name has no '-')."""
    return name.replace("-", "_")


@pytest.mark.parametrize("name", backends.names())
def test_the_entry_is_what_the_adapter_and_its_consumers_use(name):
    from whisperbench.bench import environment, verify
    from whisperbench.conversion import formats

    spec = backends.spec(name)
    cls = backends.adapter_class(name)
    assert cls.name == name
    assert cls.capabilities.model_format == spec.weight_format
    assert spec.weight_format == "none" or spec.weight_format in formats.names()
    for alias in spec.aliases:
        assert backends.spec(alias) is spec
    assert set(spec.packages) <= set(environment.packages())
    if spec.weight_format != "none":
        runs = verify.backend_for_format()[spec.weight_format]
        assert backends.spec(runs).weight_format == spec.weight_format


def test_a_registered_backend_is_found_and_unregistered_is_gone():
    toy = BackendSpec("toyreg", "whisperbench.backends.dummy.adapter:DummyBackend", (), None, "toy",
                      aliases=("toy-alias",), packages=("numpy",))
    backends.register(toy)
    try:
        assert backends.spec("toy-alias") is toy and "toyreg" in backends.names()
        assert backends.runtime_name("toyreg") == "toyreg"
    finally:
        backends.unregister("toyreg")
    with pytest.raises(BackendNotFoundError):
        backends.spec("toy-alias")
    assert backends.runtime_name("whispercpp") == "whisper.cpp"


@pytest.mark.parametrize("name", backends.names())
def test_synthetic_primitives_belong_to_their_runtime(name):
    """A runtime's synthetic primitives are in its package and time only what its adapter
    accepts; one without them says so in its capabilities."""
    primitives = backends.synthetic_class(name)
    cls = backends.adapter_class(name)
    if primitives is None:
        assert any("no synthetic timing" in note for note in cls.capabilities.notes)
        return
    assert primitives.backend == name and primitives.__module__ == f"whisperbench.backends.{package_of(name)}.synthetic"
    accepted = {ct for types in cls.capabilities.compute_types.values() for ct in types}
    assert set(primitives.compute_types) <= accepted
    for key in set(primitives.option_help) & set(cls.capabilities.extra_options):
        assert primitives.option_help[key] == cls.capabilities.extra_options[key]  # one meaning per option
