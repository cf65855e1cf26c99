"""What the tests of a killed map-reduce run watch: the shard answers cached so far, and a wait."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path


def shard_rows(cache_dir: Path) -> int:
    """Shard answers in the answer cache under `cache_dir` (0 before it exists)."""
    path = cache_dir / "answers.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path, timeout=5) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM answers WHERE kind='shard'").fetchone()[0])
        except sqlite3.OperationalError:  # the table is not made yet
            return 0


def wait_for(condition: Callable[[], bool], what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
