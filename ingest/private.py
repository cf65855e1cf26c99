"""Folders and files only their owner can read: the cache folder is 0700 and every file in it 0600,
whatever the umask, and a looser one left by an older longread is tightened when it is opened
(group and other bits dropped; a bit the owner removed is never added back).

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
    """`path` made 0700 (its missing parents get the umask's mode), or, when it exists, stripped
    of every group and other bit: tightening never adds a bit the owner took away.

    A shared sticky folder (`--cache-dir /tmp`) is left as it is: it is not longread's to close,
    and the files longread puts in it are 0600 all the same."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=DIR_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise
        info = path.stat()
        if not info.st_mode & stat.S_ISVTX:
            _narrow(path, stat.S_IMODE(info.st_mode), DIR_MODE)
    else:
        os.chmod(path, DIR_MODE)  # a umask such as 0277 narrows even mkdir's 0700
    return path


def private_file(path: Path) -> Path:
    """`path` created empty and 0600 if missing, else stripped of group and other bits."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        tighten([path])
        return path
    try:
        os.fchmod(fd, FILE_MODE)  # a umask such as 0277 narrows even a new file's 0600
    finally:
        os.close(fd)
    return path


def tighten(paths: Iterable[Path]) -> None:
    """Each existing file of `paths` stripped of every bit beyond 0600 (a missing one skipped)."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                _narrow(path, stat.S_IMODE(info.st_mode), FILE_MODE)


def _narrow(path: Path, mode: int, allowed: int) -> None:
    """Drop the bits of `mode` outside `allowed`; someone else's file is left to fail where used."""
    if mode & ~allowed:
        with contextlib.suppress(PermissionError):
            os.chmod(path, mode & allowed)


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
    private_file(path)
    return os.open(path, os.O_WRONLY | os.O_APPEND)
