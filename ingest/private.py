"""Folders and files only their owner can read: the cache folder is 0700 and every file in it 0600,
whatever the umask, and a looser one left by an older longread is tightened when it is opened.

The caches hold redacted text, hashes, answers and a log that can name paths: none of it is for
the other accounts of the machine. SQLite gives its `-wal` and `-shm` files the mode of their
database, so a database created here 0600 keeps its companions 0600 too.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """`path` made (with its missing parents, which get the umask's mode) and tightened to 0700.

    A shared sticky folder (`--cache-dir /tmp`) is left as it is: it is not longread's to close,
    and the files longread puts in it are 0600 all the same."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    info = path.stat()
    if stat.S_IMODE(info.st_mode) != DIR_MODE and not info.st_mode & stat.S_ISVTX:
        with contextlib.suppress(PermissionError):  # someone else's folder: its files stay 0600
            os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """`path` created empty and 0600 if missing, else tightened to 0600."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    tighten([path])  # a umask such as 0277 narrows even a new file's 0600
    return path


def tighten(paths: Iterable[Path]) -> None:
    """Each existing file of `paths` made 0600 (a missing one is skipped)."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if stat.S_IMODE(path.lstat().st_mode) != FILE_MODE and path.is_file():
                os.chmod(path, FILE_MODE)


def tighten_tree(root: Path) -> None:
    """Every folder under `root` (itself included) 0700 and every file 0600: for trees a tool
    wrote with the umask's modes (the converted model)."""
    os.chmod(root, DIR_MODE)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), DIR_MODE)
        tighten(Path(folder, name) for name in files)


def open_private_append(path: Path) -> int:
    """A descriptor appending to `path`, created 0600 (or tightened to it): for the log file."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    with contextlib.suppress(PermissionError):
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    return fd
