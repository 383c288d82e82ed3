"""The paths a command reads and writes: checks made before any work starts, so a bad
path costs one clear line instead of a traceback after minutes of decoding, and atomic
writes that leave no temp file behind and respect the umask.

Every command that writes checks its output here (`output_file`, `output_folder`);
inputs that must be a file or a folder are checked with `input_file` / `input_folder`,
which tell a folder from a missing path.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union

from whisperbench.errors import WhisperbenchError

PathLike = Union[str, os.PathLike]


def input_file(path: PathLike, what: str = "file") -> Path:
    """`path` must be an existing file (not a folder)."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise WhisperbenchError(f"{what} {p} is a folder; give a file")
    if not p.is_file():
        raise WhisperbenchError(f"{what} not found: {p}")
    return p


def input_folder(path: PathLike, what: str = "folder") -> Path:
    """`path` must be an existing folder (not a file)."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise WhisperbenchError(f"{what} {p} is a file; give a folder")
    if not p.is_dir():
        raise WhisperbenchError(f"{what} not found: {p}")
    return p


def _creatable(p: Path, what: str) -> None:
    """The nearest existing ancestor of `p` is a folder this process may write into."""
    parent = p.parent
    while not parent.exists() and not parent.is_symlink() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise WhisperbenchError(f"cannot write {what} {p}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise WhisperbenchError(f"cannot write {what} {p}: no permission to create files in {parent}")


def output_file(path: PathLike, what: str = "output file") -> Path:
    """`path` can be written as a file: it is not a folder, and it is writable or creatable
    (missing parent folders will be created by the writer). Nothing is created here."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise WhisperbenchError(f"{what} {p} is a folder; give a file path")
    if p.exists():
        if not os.access(p, os.W_OK):
            raise WhisperbenchError(f"cannot write {what} {p}: permission denied")
        if not os.access(p.parent, os.W_OK | os.X_OK):  # atomic writes replace the file from its folder
            raise WhisperbenchError(f"cannot write {what} {p}: no permission to create files in {p.parent}")
        return p
    if p.is_symlink():
        raise WhisperbenchError(f"{what} {p} is a broken symbolic link")
    _creatable(p, what)
    return p


def output_folder(path: PathLike, what: str = "output folder") -> Path:
    """`path` can hold written files: an existing writable folder, or creatable."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise WhisperbenchError(f"{what} {p} is a file; give a folder path")
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise WhisperbenchError(f"cannot write {what} {p}: permission denied")
        return p
    _creatable(p, what)
    return p


def umask_mode(folder: bool) -> int:
    """The mode `open()` / `mkdir()` would give a new file or folder under the current umask
    (mkstemp / mkdtemp make them 0600 / 0700; results are meant to be shared)."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if folder else 0o666) & ~mask


def write_text_atomic(path: PathLike, text: str) -> Path:
    """Write `text` to `path` through a temp file in the same folder and a rename, so readers
    never see half a file; the temp file is removed when the write fails."""
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, umask_mode(folder=False))
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return p
