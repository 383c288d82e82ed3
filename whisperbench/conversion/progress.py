"""Progress bars (tqdm, over tensors) for conversions of large checkpoints.

A bar is shown when asked (`progress=True`) or, by default, when the checkpoint is larger
than LARGE_BYTES; never when stderr is not a terminal or WHISPERBENCH_QUIET=1 is set, and
never with `progress=False`. Readers and writers take a `Progress` and open one bar per
pass over the tensors: `with progress.bar(total, "writing ggml") as bar: ... bar.update()`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

LARGE_BYTES = 200 * 2**20


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


class Progress:
    """Whether to draw bars; `bar()` returns a tqdm bar or a no-op with the same methods."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def bar(self, total: int, desc: str):
        if not self.enabled:
            return _NoBar()
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit="tensor", leave=False, file=sys.stderr, dynamic_ncols=True)


NO_PROGRESS = Progress(False)


def quiet_env() -> bool:
    return os.environ.get("WHISPERBENCH_QUIET", "").strip().lower() not in ("", "0", "false", "no")


def _is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def policy(progress: bool | Progress | None, nbytes: int) -> Progress:
    """The Progress for a checkpoint of `nbytes`: `progress` True/False forces it on/off
    (on still needs a terminal and no WHISPERBENCH_QUIET); None means "only when large"."""
    if isinstance(progress, Progress):
        return progress
    if progress is False or quiet_env() or not _is_tty():
        return NO_PROGRESS
    return Progress(progress is True or nbytes > LARGE_BYTES)


def size_on_disk(path) -> int:
    from pathlib import Path

    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in p.iterdir() if f.is_file())
    return p.stat().st_size if p.exists() else 0
