"""Cache, then generate the misses with as many requests in flight as the backend takes, then cache.

Every model call of map-reduce and of a batch of questions goes through `generate_cached`. A
backend whose `concurrency` is above 1 (a server: its HTTP client is thread-safe, and vLLM behind
one URL batches concurrent requests itself, across data-parallel replicas too) gets that many
requests at once, one `generate` call each from a pool of threads; the in-process engine (1) gets
batches of MAP_BATCH from the caller's thread. Either way each result is written to the cache as it
comes back, on the caller's thread, so a killed run loses only what was in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from longread.engine.answer_cache import AnswerCache
from longread.engine.backend import Backend, ChatRequest, Completion, Message, SamplingSettings

MAP_BATCH = 2  # requests per generate call of an in-process engine: a killed run loses this many
Item = tuple[str, tuple[Message, ...]]  # (cache key, messages)
Result = tuple[Completion, bool]  # (completion, from the cache)


def generate_cached(
    items: Sequence[Item],
    backend: Backend,
    *,
    cache: AnswerCache | None,
    sampling: SamplingSettings,
    refresh: bool = False,
    kind: str = "shard",
    on_done: Callable[[int], None] = lambda done: None,
) -> list[Result]:
    """(key, messages) in, (completion, from_cache) out in order; each miss cached as it returns."""
    results: dict[int, Result] = {}
    if cache is not None and not refresh:
        for index, (key, _) in enumerate(items):
            if (hit := cache.get(key)) is not None:
                results[index] = (hit.completion(), True)
    on_done(len(results))

    def keep(index: int, completion: Completion) -> None:
        results[index] = (completion, False)
        if cache is not None:
            cache.put(items[index][0], completion, kind=kind, meta={})
        on_done(len(results))

    missing = [index for index in range(len(items)) if index not in results]
    requests = {index: ChatRequest(items[index][1], sampling) for index in missing}
    if backend.concurrency > 1:
        _in_flight(requests, backend, keep)
    else:
        _in_batches(requests, backend, keep)
    return [results[index] for index in range(len(items))]


def _in_batches(
    requests: dict[int, ChatRequest], backend: Backend, keep: Callable[[int, Completion], None]
) -> None:
    """MAP_BATCH requests per blocking call: the in-process engine batches them itself."""
    order = list(requests)
    for start in range(0, len(order), MAP_BATCH):
        batch = order[start : start + MAP_BATCH]
        completions = backend.generate([requests[index] for index in batch])
        for index, completion in zip(batch, completions, strict=True):
            keep(index, completion)


def _in_flight(
    requests: dict[int, ChatRequest], backend: Backend, keep: Callable[[int, Completion], None]
) -> None:
    """`backend.concurrency` requests outstanding, each kept as soon as it returns.

    On the first failure the queued requests are dropped; those in flight finish (each within the
    backend's own timeout) and are kept too, then the failure is raised.
    """
    workers = min(backend.concurrency, len(requests))
    if not workers:
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="longread-fanout")
    pending: dict[Future[list[Completion]], int] = {
        pool.submit(backend.generate, [request]): index for index, request in requests.items()
    }
    failure: BaseException | None = None
    try:
        while pending and failure is None:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            failure = _keep_done(done, pending, keep)
    except BaseException as exc:  # Ctrl-C while waiting: keep what finished, then stop
        failure = exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if failure is not None:
        _keep_done([f for f in pending if f.done() and not f.cancelled()], pending, keep)
        raise failure


def _keep_done(
    done: Sequence[Future[list[Completion]]] | set[Future[list[Completion]]],
    pending: dict[Future[list[Completion]], int],
    keep: Callable[[int, Completion], None],
) -> BaseException | None:
    """Keep each finished request's completion; the first failure among them is returned."""
    failure = None
    for future in sorted(done, key=lambda f: pending[f]):
        index = pending.pop(future)
        if (error := future.exception()) is not None:
            failure = failure or error
            continue
        (completion,) = future.result()
        keep(index, completion)
    return failure
