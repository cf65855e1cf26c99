"""THE engine entry every job uses: cache, then generate the misses, validate or retry, then cache.

A `Request` is a cache key (`cache_key`: everything that shapes the reply), the messages, and
optionally a JSON schema (guided decoding) and a `check` that says why a reply is not valid. Every
model call of ask, summarize (one pass, map-reduce shards and reduces) and review goes through
`generate_cached`: hits never touch the model (a hit that fails its check is a miss: fail closed),
misses are generated, an invalid reply gets one retry with the next seed, and each valid reply is
written to the cache as it comes back, on the caller's thread, so a killed run loses only what was
in flight. An invalid reply is never cached.

A backend whose `concurrency` is above 1 (a server: its HTTP client is thread-safe, and vLLM behind
one URL batches concurrent requests itself, across data-parallel replicas too) gets that many
requests at once, one `generate` call each from a pool of threads; the in-process engine (1) gets
batches of MAP_BATCH from the caller's thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from longread.engine.answer_cache import AnswerCache, CachedAnswer, answer_key
from longread.engine.backend import Backend, ChatRequest, Completion, Message, SamplingSettings
from longread.engine.prompt import PROMPT_VERSION

MAP_BATCH = 2  # requests per generate call of an in-process engine: a killed run loses this many
ATTEMPTS = 2  # an invalid reply is asked once more, with the next seed
Check = Callable[[str], str | None]  # a reply's text -> why it is not valid, or None


@dataclass(frozen=True)
class Request:
    """One model call: its cache key, its messages, and what a valid reply looks like."""

    key: str
    messages: tuple[Message, ...]
    kind: str = "shard"
    json_schema: dict[str, Any] | None = None
    check: Check | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)  # stored with the reply

    def error(self, text: str) -> str | None:
        return None if self.check is None else self.check(text)


@dataclass(frozen=True)
class Result:
    """A request's reply: None when no attempt gave a valid one (`errors` says why)."""

    completion: Completion | None
    from_cache: bool
    errors: tuple[str, ...] = ()  # why each attempt before the one returned was not valid


def cache_key(
    kind: str,
    digest: str,
    question: str,
    backend: Backend,
    sampling: SamplingSettings,
    extra: Mapping[str, Any] | None = None,
    *,
    prompt_version: str = PROMPT_VERSION,
) -> str:
    """The answer-cache key of one result: input digest, question, model, sampling, prompt."""
    return answer_key(
        pack_digest=digest,
        question=question,
        model_identity=backend.identity(),
        sampling=sampling,
        prompt_version=prompt_version,
        kind=kind,
        extra=extra,
    )


def cached(cache: AnswerCache | None, key: str, check: Check | None = None) -> CachedAnswer | None:
    """The cached reply under `key`, or None; one that fails `check` counts as none."""
    hit = cache.get(key) if cache is not None else None
    if hit is None or (check is not None and check(hit.text) is not None):
        return None
    return hit


def generate_cached(
    requests: Sequence[Request],
    backend: Backend,
    *,
    cache: AnswerCache | None,
    sampling: SamplingSettings,
    refresh: bool = False,
    on_done: Callable[[int], None] = lambda done: None,
) -> list[Result]:
    """Requests in, Results out in order; each valid miss cached as it returns."""
    results = {} if refresh else _hits(requests, cache)
    on_done(len(results))
    errors: dict[int, list[str]] = {}

    def keep(index: int, completion: Completion) -> None:
        request = requests[index]
        if (error := request.error(completion.text)) is not None:
            errors.setdefault(index, []).append(error)
            return
        results[index] = Result(completion, False, _attempts(errors.get(index, [])))
        if cache is not None:
            cache.put(request.key, completion, kind=request.kind, meta=request.meta)
        on_done(len(results))

    todo = [index for index in range(len(requests)) if index not in results]
    for attempt in range(ATTEMPTS):
        tried = sampling if attempt == 0 else replace(sampling, seed=(sampling.seed or 0) + attempt)
        _send({i: ChatRequest(requests[i].messages, tried, requests[i].json_schema) for i in todo},
              backend, keep)
        todo = [index for index in todo if index not in results]
    results |= {index: Result(None, False, _attempts(errors[index])) for index in todo}
    return [results[index] for index in range(len(requests))]


def _hits(requests: Sequence[Request], cache: AnswerCache | None) -> dict[int, Result]:
    """The requests the cache answers validly, by position."""
    found = ((index, cached(cache, request.key, request.check))
             for index, request in enumerate(requests))
    return {index: Result(hit.completion(), True) for index, hit in found if hit is not None}


def _attempts(errors: Sequence[str]) -> tuple[str, ...]:
    return tuple(f"attempt {number}: {error}" for number, error in enumerate(errors, 1))


def _send(
    requests: dict[int, ChatRequest], backend: Backend, keep: Callable[[int, Completion], None]
) -> None:
    if not requests:  # all answered: no engine is started, not even to ask its concurrency
        return
    if backend.concurrency > 1:
        _in_flight(requests, backend, keep)
    else:
        _in_batches(requests, backend, keep)


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
