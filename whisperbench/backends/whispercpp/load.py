"""Loading whisper.cpp (pywhispercpp), shared by the adapter and the synthetic primitives:
the thread default, the device (CPU, or CUDA when the installed build has it), the model
load with its log read back, and the fd-2 redirect whisper.cpp's C code needs."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from whisperbench.options import usable_cpus
from whisperbench.errors import ModelError, UnsupportedOptionError

MAX_DEFAULT_THREADS = 4


def default_threads(threads: int) -> int:
    """`threads`, or whisper.cpp's default (4) capped at the usable CPUs."""
    return threads or min(MAX_DEFAULT_THREADS, usable_cpus())


def system_info() -> str:
    import _pywhispercpp as pw

    return str(pw.whisper_print_system_info())


def cuda_build() -> bool:
    """True when pywhispercpp's whisper.cpp was built with a CUDA backend (the PyPI wheel
    is CPU-only)."""
    info = system_info().upper()
    return "CUDA" in info or "CUBLAS" in info


def check_cuda() -> None:
    """Raise UnsupportedOptionError saying how to get a CUDA build when this one has none."""
    if cuda_build():
        return
    try:
        v = version("pywhispercpp")
    except PackageNotFoundError:
        v = "?"
    raise UnsupportedOptionError(
        f"whisper.cpp on CUDA: the installed pywhispercpp {v} was built without CUDA (its system info: "
        f"{system_info().strip()!r}); the PyPI wheel is CPU-only. Build it with CUDA: "
        "GGML_CUDA=1 pip install --no-binary pywhispercpp pywhispercpp (needs the CUDA toolkit and nvcc)"
    )


@contextlib.contextmanager
def stderr_to(target: str | int):
    """Send file descriptor 2 (where whisper.cpp's C code logs) to `target`, a path (opened
    for appending) or an open file descriptor. pywhispercpp's own redirect falls back to a
    Python-level one when sys.stderr has no file descriptor (e.g. under pytest's capture),
    which C code ignores."""
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):
        pass
    saved = os.dup(2)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND) if isinstance(target, str) else target
    try:
        os.dup2(fd, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        if isinstance(target, str):
            os.close(fd)


def context_params(device: str) -> dict[str, Any]:
    """whisper.cpp's context parameters for a device ("cpu", "cuda", "cuda:N"): the GPU is
    used only when asked (whisper.cpp's own default is to use it whenever the build has one)."""
    kind, _, index = device.partition(":")
    if kind != "cuda":
        return {"use_gpu": False}
    return {"use_gpu": True, "gpu_device": int(index or 0)}


def load_model(where: str, threads: int, device: str, spec: str | None = None, **params: Any):
    """A `pywhispercpp.model.Model` on `where` (a path or a model name) on `device`; `spec`
    names the model in errors (default: `where`).
    whisper.cpp logs to stderr; it is kept quiet but read back: a failed load
    still returns a context object (a null pointer inside) that crashes on first use, so
    that becomes a ModelError naming whisper.cpp's reasons."""
    from pywhispercpp.model import Model

    with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
        try:
            with stderr_to(log.name):
                model = Model(
                    where, redirect_whispercpp_logs_to=False, n_threads=threads, print_progress=False,
                    print_realtime=False, print_timestamps=False, context_params=context_params(device), **params,
                )
        except Exception as exc:  # whisper.cpp reports a failed load as a generic error
            raise ModelError(f"cannot load whisper.cpp model {spec or where!r}: {type(exc).__name__}: {exc}") from None
        log.seek(0)
        messages = log.read()
    if "failed to load model" in messages or model._ctx is None:
        reasons = [ln for ln in messages.splitlines() if "error" in ln.lower() or "wrong" in ln or "failed" in ln]
        model._ctx = None  # never free a null context
        raise ModelError(f"whisper.cpp cannot load {where}: {'; '.join(reasons) or 'unknown error'}")
    return model
