"""Default locations, each overridable by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def speech_dir() -> Path:
    """The shared evaluation speech: $WHISPERBENCH_SPEECH_DIR, else ../shared/speech
    beside the project root (or beside the current directory)."""
    env = os.environ.get("WHISPERBENCH_SPEECH_DIR")
    if env:
        return Path(env).expanduser().resolve()
    for base in (PROJECT_ROOT, Path.cwd()):
        candidate = (base / ".." / "shared" / "speech").resolve()
        if candidate.is_dir():
            return candidate
    return (PROJECT_ROOT / ".." / "shared" / "speech").resolve()


def results_dir() -> Path:
    """Where benchmark results go: $WHISPERBENCH_RESULTS_DIR, else ./results."""
    return Path(os.environ.get("WHISPERBENCH_RESULTS_DIR", "results")).resolve()
