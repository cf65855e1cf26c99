"""How the core reports progress without drawing: a callback the CLI may turn into a bar."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def __call__(self, stage: str, done: int, total: int | None) -> None:
        """`stage` names the work ("reading", "shards", ...); `total` is None when unknown."""


def no_progress(stage: str, done: int, total: int | None) -> None:
    """The default: report nothing."""
