"""CPU-bound ingest work (outlining, the secret scan) spread over both cores in worker processes.

Both hold the GIL (tree-sitter while it parses, `re` while it scans), so threads would not help.
Items go in batches of similar total size, results come back in item order, so the output does
not depend on which process did which batch. Below `parallel_from` units of work (characters),
starting workers costs more than it saves, and the work runs here.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar


def _cores() -> int:
    """The cores this process may run on (a container's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


WORKERS = _cores() - 1  # this process is the last worker; on one core there is no pool
_BATCHES_PER_PROCESS = 8
_MAIN_SWAP = threading.Lock()

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_batches(
    work: Callable[[Sequence[Item]], list[Result]],
    items: Sequence[Item],
    sizes: Sequence[int],
    *,
    parallel_from: int,
) -> list[Result]:
    """`work` (a module-level function: one result per item) over `items`, results in order.

    The workers take batches from the front while this process takes them from the back, so
    the time the workers need to start is not lost, and a pool that never starts costs nothing."""
    if WORKERS < 1 or sum(sizes) < parallel_from:
        return work(items)
    batches = balanced(sizes, (WORKERS + 1) * _BATCHES_PER_PROCESS)
    chunks = [[items[i] for i in batch] for batch in batches]
    results = _pooled(work, chunks)
    if results is None:  # no worker could start or one died: do it here
        return work(items)
    ordered: dict[int, Result] = {}
    for batch, made in zip(batches, results, strict=True):
        ordered.update(zip(batch, made, strict=True))
    return [ordered[index] for index in range(len(items))]


def _pooled(
    work: Callable[[Sequence[Item]], list[Result]], chunks: list[list[Item]]
) -> list[list[Result]] | None:
    """`work` over `chunks` on the pool and here; None when the pool failed. The work's own
    errors (an OSError reading a file too) are not the pool's: they propagate."""
    context = multiprocessing.get_context("forkserver")
    try:
        pool = ProcessPoolExecutor(max_workers=WORKERS, mp_context=context)
    except OSError:
        return None
    with pool:
        try:
            with _main_left_out():  # the worker starts at the first submit
                futures = [pool.submit(work, chunk) for chunk in chunks]
        except (BrokenProcessPool, OSError):
            return None
        here = {i: work(chunks[i]) for i in reversed(range(len(chunks))) if futures[i].cancel()}
        try:
            return [here[i] if i in here else futures[i].result() for i in range(len(chunks))]
        except BrokenProcessPool:
            return None


@contextlib.contextmanager
def _main_left_out() -> Iterator[None]:
    """Workers start without importing `__main__`: the work lives in longread's own modules, and
    a caller's script without an `if __name__ == "__main__":` guard would otherwise run again in
    the worker (multiprocessing re-imports the main module named by its `__spec__` or `__file__`),
    break the pool and hang at exit."""
    with _MAIN_SWAP:  # threads starting pools at once must not save each other's None
        main = sys.modules.get("__main__")
        saved = {name: main.__dict__[name] for name in ("__spec__", "__file__")
                 if main is not None and name in main.__dict__}
        try:
            for name in saved:
                setattr(main, name, None)
            yield
        finally:
            for name, value in saved.items():
                setattr(main, name, value)


def balanced(sizes: Sequence[int], count: int) -> list[list[int]]:
    """Item indices in `count` batches of similar total size (largest first, to the lightest)."""
    batches: list[list[int]] = [[] for _ in range(count)]
    totals = [0] * count
    for index in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        lightest = totals.index(min(totals))
        batches[lightest].append(index)
        totals[lightest] += sizes[index]
    return [batch for batch in batches if batch]
