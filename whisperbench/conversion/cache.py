"""The one cache of converted weights, under `models.cache_dir()/converted`.

One keying rule for every entry: the source's identity (a local model's path and the
size and mtime of each of its files, or a string naming a generated source such as
synthetic random weights), the target format, the quantization, CONVERTER_VERSION and a
digest of the conversion code itself. An entry is built once under a file lock, so
concurrent processes (and threads) wait for one builder instead of racing.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from pathlib import Path
from typing import Callable, Iterator

from whisperbench.conversion import formats
from whisperbench.conversion.checkpoint import CONVERTER_VERSION
from whisperbench.errors import ConversionError

SUBDIR = "converted"


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """Digest of the conversion code itself: an entry made by an older writer (a bug fixed
    since, a layout changed) is never reused, even if nobody bumped CONVERTER_VERSION."""
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def source_identity(source: Path | str) -> list:
    """A local path: itself plus (relative name, size, mtime) of each file under it, so an
    edited or replaced model is a new entry. A string: itself."""
    if isinstance(source, str):
        return [source]
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    return [str(source)] + [(str(p.relative_to(source)) if p != source else p.name, st.st_size, st.st_mtime_ns)
                            for p in files for st in [p.stat()]]


def key(source: Path | str, fmt: str, quantization: str | None) -> str:
    data = {"src": source_identity(source), "fmt": fmt, "q": quantization, "v": CONVERTER_VERSION,
            "code": code_digest()}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def entry_path(source: Path | str, fmt: str, quantization: str | None, label: str | None = None) -> Path:
    """Where the entry for (source, fmt, quantization) lives (whether built yet or not)."""
    from whisperbench import models

    label = label or (source.stem if isinstance(source, Path) else source)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
    name = f"{safe}-{fmt}-{quantization or 'auto'}-{key(source, fmt, quantization)}"
    return models.cache_dir() / SUBDIR / name / formats.get(fmt).output_name


def converted(source: Path | str, fmt: str, quantization: str | None, build: Callable[[Path], object],
              label: str | None = None) -> Path:
    """The cached `fmt` copy of `source`: `build(path)` writes it there the first time
    (it must write the file or folder at exactly `path`, atomically)."""
    out = entry_path(source, fmt, quantization, label)
    if out.exists():
        return out
    out.parent.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(out.parent.with_name(out.parent.name + ".lock")):
        if out.exists():  # another process finished it while we waited
            return out
        build(out)
    if not out.exists():
        raise ConversionError(f"building the cached {fmt} copy of {source} left nothing at {out}")
    return out


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock held on `path` (created if absent) for the block: across
    processes, and across threads that each enter it."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
