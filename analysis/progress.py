"""Progress bars on stderr (only on a TTY) fed by the core's progress callbacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from longread.ingest.progress import Progress as ProgressCallback
from longread.ingest.progress import no_progress


@contextmanager
def progress_bar(*, enabled: bool = True) -> Iterator[ProgressCallback]:
    """Yield a callback that draws one bar per stage on stderr; a no-op when stderr is no TTY."""
    console = Console(stderr=True)
    if not (enabled and console.is_terminal):
        yield no_progress
        return
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    )
    with Progress(*columns, console=console, transient=True) as bars:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=total)

        yield report
