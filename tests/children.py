"""A child Python that runs the real `longread` CLI with a fake the test chose: the repo root on
its PYTHONPATH (as pytest's `pythonpath` puts it on ours), so it imports `tests.fakes`."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment, the repo root first on PYTHONPATH, and `extra`."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def scripted_longread(reply: str) -> list[str]:
    """The argv of a `longread` whose `--backend scripted` answers every request with `reply`
    (run it with env=child_env(); append the CLI's arguments)."""
    boot = ("from tests import fakes; "
            "from longread.engine.backend import BACKENDS; "
            "from longread.analysis.cli.commands import main; "
            f"BACKENDS['scripted'] = lambda **o: fakes.ScriptedBackend(lambda s: {reply!r}); "
            "main()")
    return [sys.executable, "-c", boot]


def on_a_terminal(argv: list[str], env: dict[str, str],
                  timeout_s: float = 120) -> tuple[int, str, str]:
    """Run `argv` with its stdout on a pseudo-terminal (as a user's shell gives it; stderr and
    stdin are not one): its exit code, what the terminal showed (`\\n` lines), and its stderr."""
    leader, follower = pty.openpty()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(argv, stdout=follower, stderr=errors,
                                   stdin=subprocess.DEVNULL, env=env)
        os.close(follower)
        try:
            shown = _read_until_closed(leader, process, time.monotonic() + timeout_s)
            code = process.wait(timeout=10)
        finally:
            process.kill()
            os.close(leader)
        errors.seek(0)
        stderr = errors.read().decode("utf-8", "replace")
    return code, shown.decode("utf-8", "replace").replace("\r\n", "\n"), stderr


def _read_until_closed(leader: int, process: subprocess.Popen[bytes], deadline: float) -> bytes:
    """Everything the child writes to its terminal, until it closes it or the deadline."""
    shown = bytearray()
    while time.monotonic() < deadline:
        if select.select([leader], [], [], 0.5)[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        elif process.poll() is not None:
            break
    return bytes(shown)
