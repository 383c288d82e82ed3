"""The backend registry (whisperbench.backends): importing it imports no runtime, unknown and
uninstalled names are clear errors, aliases resolve."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import runtimes_imported
from whisperbench import backends
from whisperbench.backends import BackendSpec
from whisperbench.errors import BackendNotFoundError, BackendNotInstalledError

def test_importing_package_and_registry_imports_no_runtime():
    assert runtimes_imported(
        "import whisperbench, whisperbench.backends as b, whisperbench.cli.main as m\n"
        "[b.adapter_class(n).capabilities for n in b.names()]\n"
        "m.build_parser()"
    ) == []


def test_unknown_backend_lists_valid_names():
    with pytest.raises(BackendNotFoundError) as err:
        backends.get("nope")
    assert "ctranslate2" in str(err.value) and "dummy" in str(err.value)


def test_uninstalled_backend_names_the_extra(monkeypatch):
    monkeypatch.setitem(
        backends._REGISTRY, "fake",
        BackendSpec("fake", "whisperbench.backends.dummy.adapter:DummyBackend", ("no_such_runtime_xyz",), "fakeextra", "x"),
    )
    with pytest.raises(BackendNotInstalledError) as err:
        backends.get("fake")
    assert "whisperbench[fakeextra]" in str(err.value) and "no_such_runtime_xyz" in str(err.value)


def test_aliases_resolve():
    assert backends.spec("faster-whisper").name == "ctranslate2"


def test_entries_registered_at_run_time_reach_child_processes(monkeypatch):
    """`registry.child_env` carries entries registered at run time (not the built-in ones,
    not a stale value inherited from the parent's environment); a child registers them back
    unchanged on import."""
    from whisperbench.backends import registry

    monkeypatch.setenv(registry.ENV_VAR, '[{"name": "stale"}]')
    assert registry.ENV_VAR not in registry.child_env(dict(os.environ))
    extra = BackendSpec(name="extra", target="x.y:Z", requires=("numpy",), extra=None, description="d",
                        aliases=("ex",), packages=("numpy",))
    with backends.registered(extra):
        env = registry.child_env({"PATH": "/bin"})
        assert env["PATH"] == "/bin"
        code = ("import whisperbench.backends as b; s = b.spec('ex');"
                "print(s.name, s.requires, s.aliases, s.packages, s.target, len(b.names()))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, **env})
        assert out.stdout.split(maxsplit=1)[1].strip() == (
            f"('numpy',) ('ex',) ('numpy',) x.y:Z {len(backends.RUNTIMES) + 1}")
    assert "extra" not in backends.names() and not registry.added_specs()
