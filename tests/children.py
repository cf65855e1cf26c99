"""A child Python that runs the real `longread` CLI with a fake the test chose: the repo root on
its PYTHONPATH (as pytest's `pythonpath` puts it on ours), so it imports `tests.fakes`."""

from __future__ import annotations

import os
import sys
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
