"""Child-process plumbing shared by the suite runner's cells and the synthetic cells.

A child reads its job as JSON on stdin and answers on a private copy of stdout (its own
prints and a runtime's C-level output go to stderr instead), dies with its parent on
Linux, and dumps the Python stack on a segfault so the failure row can show it.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import BinaryIO, TextIO

from whisperbench.paths import PROJECT_ROOT


def child_env() -> dict[str, str]:
    """The environment for a child: this checkout importable, output unbuffered."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def signal_name(rc: int) -> str:
    """The name of the signal that ended a child (`rc` as subprocess gives it, negative)."""
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def describe_exit(rc: int) -> str:
    """Why a child ended without an answer, in words."""
    if rc < 0:
        name = signal_name(rc)
        return f"killed by {name}" + (" (likely the kernel's out-of-memory killer)" if name == "SIGKILL" else "")
    return f"exited with status {rc} before finishing"


def stderr_tail(fh: BinaryIO, lines: int = 15) -> str:
    """The last `lines` lines a child wrote to `fh` (its stderr file)."""
    fh.seek(0)
    return "\n".join(fh.read().decode("utf-8", "replace").strip().splitlines()[-lines:])


def start_child() -> TextIO:
    """Call first in a child's main(): returns the protocol stream."""
    import faulthandler

    faulthandler.enable()
    _die_with_parent()
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything else written to stdout goes to stderr
    sys.stdout = sys.stderr
    return proto


def _die_with_parent() -> None:
    """Linux: get SIGKILL if the parent dies, so a hung child never outlives it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:
            os._exit(1)
    except (OSError, AttributeError):
        pass
