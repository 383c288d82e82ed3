"""Child processes: the generic part of the one spawner, shared by every layer that runs
work out of process (the suite's cells and scenarios in `bench.child`, the server's decode
workers in `serve.worker`).

Parent side, `launch`: start `python -m MODULE` in its own session (a terminal's Ctrl-C
reaches the parent only), give it its job as JSON on stdin, and keep its stderr in a file
so that `stderr_tail` can show how it ended. `describe_exit` says how it ended in words.

Child side, `start_child`: answer on a private copy of stdout (its own prints and a
runtime's C-level output go to stderr instead), die with the parent on Linux, and dump the
Python stack on a segfault so the parent can show it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from typing import Any, BinaryIO, Callable, Mapping, TextIO

from whisperbench.paths import PROJECT_ROOT


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` for a `python -m` child: this checkout importable, output unbuffered. (The
    caller passes `backends.registry.child_env(...)` to carry run-time backends too.)"""
    env = dict(env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def launch(module: str, job: dict[str, Any], *, env: Mapping[str, str], stdout: Any = subprocess.PIPE,
           cwd: str | None = None) -> tuple[subprocess.Popen, BinaryIO]:
    """Start `python -m module` with `job` as JSON on stdin; returns the process and the
    temporary file its stderr goes to (the caller closes it)."""
    errfile = tempfile.TemporaryFile(mode="w+b")
    proc = subprocess.Popen([sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=stdout, stderr=errfile,
                            env=child_env(env), cwd=cwd, start_new_session=True)
    try:
        proc.stdin.write(json.dumps(job).encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    return proc, errfile


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


def parent_death_signal(sig: int) -> Callable[[], Any] | None:
    """A function that makes the calling process get `sig` when the thread that started it
    ends (Linux prctl PR_SET_PDEATHSIG; also usable as Popen's `preexec_fn`). None elsewhere.
    libc is looked up here, before any fork."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, sig)  # 1: PR_SET_PDEATHSIG


def _die_with_parent() -> None:
    """Linux: get SIGKILL if the parent dies, so a hung child never outlives it."""
    arm = parent_death_signal(signal.SIGKILL)
    if arm is not None:
        arm()
        if os.getppid() == 1:
            os._exit(1)
