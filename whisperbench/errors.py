"""Error types. Every error a user can cause is a `WhisperbenchError`: the CLI prints
its message on one line and exits 2, without a traceback (see whisperbench.cli.main).
`warn` prints a one-line warning once."""


class WhisperbenchError(Exception):
    """A problem the user can fix (bad input, missing install, unsupported option)."""


class AudioError(WhisperbenchError):
    """Audio that is missing, unreadable, empty or otherwise unusable."""


class BackendNotFoundError(WhisperbenchError):
    """A backend name that is not registered."""


class BackendNotInstalledError(WhisperbenchError):
    """A registered backend whose runtime is not installed."""


class UnsupportedOptionError(WhisperbenchError):
    """An option (decoding, device, compute type, ...) a backend cannot honour."""


class ModelError(WhisperbenchError):
    """A model that is missing, corrupt, or in a format the backend cannot read."""


class ConversionError(WhisperbenchError):
    """A weight conversion that cannot be done."""


_warned: set[str] = set()


def warn(message: str) -> None:
    """Print `whisperbench: warning: MESSAGE` on stderr, once per distinct message per
    process (the same file read three times by one command warns once)."""
    import sys

    if message in _warned:
        return
    _warned.add(message)
    print(f"whisperbench: warning: {message}", file=sys.stderr, flush=True)
