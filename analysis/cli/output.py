"""Every file the CLI writes goes through here: whole or not at all, and `-` means stdout.

A full disk, a missing folder or Ctrl-C mid-write must never leave a partial pack or report where
the user asked for one. Each file is written to a temporary file in its own folder and renamed over
the target (`os.replace` is atomic within one filesystem); several files are all staged before any
is renamed, so a pack and its manifest are written both or neither.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from longread.ingest.errors import UsageError

STDOUT = "-"

Target = str | Path


class OutputError(UsageError):
    """An output cannot be written: a missing folder, no permission, a full disk (exit 2)."""


def is_stdout(path: Target | None) -> bool:
    return path is not None and str(path) == STDOUT


def write_atomically(path: Target, data: bytes | str, *, fsync: bool = False) -> None:
    """Write `data` (str as UTF-8) to `path` whole or not at all; `-` writes it to stdout."""
    write_all_atomically([(path, data)], fsync=fsync)


def write_all_atomically(
    outputs: Sequence[tuple[Target, bytes | str]], *, fsync: bool = False
) -> None:
    """Write several outputs both-or-neither: every file is staged before stdout or any rename."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in outputs:
            if not _is_direct(path):
                target = _resolve(Path(path))
                staged.append((_stage(target, _as_bytes(data), fsync=fsync), target))
        for path, data in outputs:
            if is_stdout(path):
                write_stdout(data)
            elif _is_direct(path):
                _write_device(Path(path), _as_bytes(data))
        with _sigint_deferred():  # Ctrl-C between two renames would leave one file of a pair
            for temp, target in staged:
                _replace(temp, target)
    finally:
        for temp, _target in staged:
            temp.unlink(missing_ok=True)


def write_stdout(data: bytes | str) -> None:
    """Write to stdout as bytes (exactly what a file would get); a full device is one error line."""
    try:
        sys.stdout.flush()
        sys.stdout.buffer.write(_as_bytes(data))
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write to stdout: {exc.strerror or exc}") from exc


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C back for a moment (any thread may receive the signal, so the Python handler is
    swapped rather than the thread's mask); it takes effect right after."""
    caught: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    except ValueError:  # not the main thread: signals are not ours to handle
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(signal.SIGINT, None)
        elif caught and previous == signal.SIG_DFL:
            raise KeyboardInterrupt


def _is_direct(path: Target) -> bool:
    """Stdout, or a device or pipe (`/dev/null`, a FIFO): written in place, nothing to rename."""
    if is_stdout(path):
        return True
    try:
        return not stat.S_ISREG(os.stat(path).st_mode) and not Path(path).is_dir()
    except OSError:
        return False


def _resolve(target: Path) -> Path:
    """Write through a symlink rather than replacing the link itself."""
    return Path(os.path.realpath(target)) if target.is_symlink() else target


def _write_device(target: Path, data: bytes) -> None:
    try:
        with open(target, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {_reason(exc, target)}") from exc


def _stage(target: Path, data: bytes, *, fsync: bool) -> Path:
    """A temporary file beside `target` holding `data` (same folder, so the rename is atomic)."""
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a directory")
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {_reason(exc, target)}") from exc
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
    except BaseException as exc:
        temp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {target}: {_reason(exc, target)}") from exc
        raise
    return temp


def _replace(temp: Path, target: Path) -> None:
    try:
        mode = target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask()
        temp.chmod(mode)
        os.replace(temp, target)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {_reason(exc, target)}") from exc


def _umask() -> int:
    """The process umask, read without changing it where Linux says it (threads may be running)."""
    try:
        for line in Path("/proc/self/status").read_text().split("\n"):
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def _reason(exc: OSError, target: Path) -> str:
    if isinstance(exc, FileNotFoundError) and not target.parent.is_dir():
        return f"no such folder {target.parent}"
    return exc.strerror or str(exc)


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data
