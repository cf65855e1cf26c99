"""git as a child that cannot outlive its job: its own process group, killed on a timeout, on
Ctrl-C or SIGTERM, and once a fetch grows past MAX_FETCH_BYTES (ingest/remote.py runs it)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

from longread.ingest.errors import IngestError

# A fetch's pack on disk may not pass this: a hostile or mistaken URL cannot fill the cache's disk
# (a shallow fetch of CPython's main is ~0.1 GiB, of the Linux kernel ~0.3 GiB).
MAX_FETCH_BYTES = 4 * 2**30
FETCH_POLL = 0.5  # seconds between two measurements of a fetch's folder


def run_git(args: list[str], env: Mapping[str, str], timeout: float, named: str,
             grown: Path | None = None) -> tuple[int, str, str]:
    """git in its own process group, so a timeout or Ctrl-C ends its helpers (ssh, curl) too;
    stopped as well once the folder `grown` holds more than MAX_FETCH_BYTES."""
    try:
        proc = subprocess.Popen(["git", *args], env=dict(env), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except OSError as exc:
        raise IngestError(f"cannot run git to fetch {named}: {exc.strerror or exc}") from exc
    with proc, _terminate_raises():
        try:
            out, err = _communicate(proc, timeout, grown)
        except BaseException as exc:
            _kill_group(proc)
            if isinstance(exc, subprocess.TimeoutExpired):
                raise IngestError(f"git timed out after {timeout:.0f} s on {named}") from None
            if isinstance(exc, _TooBig):
                raise IngestError(f"{named} is larger than longread fetches "
                                  f"({MAX_FETCH_BYTES // 2**20} MiB on disk)") from None
            raise
    return proc.returncode, os.fsdecode(out), os.fsdecode(err)


class _TooBig(Exception):
    """The fetch grew past MAX_FETCH_BYTES."""


def _communicate(proc: subprocess.Popen[bytes], timeout: float,
                 grown: Path | None) -> tuple[bytes, bytes]:
    """proc's output; every FETCH_POLL seconds the folder it writes into is measured."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            return proc.communicate(timeout=max(0.0, min(left, FETCH_POLL)))
        except subprocess.TimeoutExpired:
            if left <= FETCH_POLL:
                raise
            if grown is not None and _bytes_under(grown) > MAX_FETCH_BYTES:
                raise _TooBig from None


def _bytes_under(folder: Path) -> int:
    total = 0
    for base, _dirs, names in os.walk(folder):
        for name in names:
            with suppress(OSError):
                total += os.lstat(os.path.join(base, name)).st_size
    return total


@contextmanager
def _terminate_raises() -> Iterator[None]:
    """SIGTERM (a CI runner cancelling the job) unwinds like Ctrl-C, so git's group is killed
    too: git runs in its own session, and the default SIGTERM would leave it fetching."""
    def terminated(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, terminated)
    except ValueError:  # not the main thread (a served request): signals stay as they are
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
