"""Past the window: shard the pack, answer each shard (map), merge the partial answers (reduce).

Every model call here goes through `generate_cached` (engine/fanout.py): results are written to the
cache as they come back, so a run killed half-way loses only what was in flight and resumes there.
The maps of several questions over the same shards go out together, so a server sees them all.
The cache holds each completion raw; it is cleaned on the way out (engine/cleanup.py), so a change
to the cleaner keeps every shard's work, and a reduce runs again only when its partials change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from longread.engine.answer_cache import AnswerCache
from longread.engine.backend import Backend, SamplingSettings
from longread.engine.cleanup import Cleaned, clean, summed_notes
from longread.engine.errors import PromptTooLong
from longread.engine.fanout import Request, Result, cache_key, generate_cached
from longread.engine.prompt import (
    is_not_in_part,
    map_messages,
    reduce_messages,
)
from longread.ingest.pack import Pack, split_pack
from longread.ingest.progress import Progress, no_progress

_TEMPLATE_MARGIN = 16  # tokens the chat template may add where fence and shard text meet
_MIN_SHARD_TOKENS = 256
_SHARD_ATTEMPTS = 3
NOTHING_FOUND = "The corpus does not contain the answer to this question."


@dataclass(frozen=True)
class Usage:
    """Token and time totals over every model call behind one answer."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.cached_tokens + other.cached_tokens,
            self.completion_tokens + other.completion_tokens,
            self.seconds + other.seconds,
        )


def shard_pack(
    pack: Pack, question: str, backend: Backend, sampling: SamplingSettings
) -> list[Pack]:
    """Shards whose map prompts (with the longest `question`) fit the window with the reserve."""
    window = backend.context_window
    overhead = backend.count_prompt_tokens(map_messages("", question))
    room = window - sampling.max_tokens - overhead - _TEMPLATE_MARGIN
    for _ in range(_SHARD_ATTEMPTS):
        if room < _MIN_SHARD_TOKENS:
            break
        shards = split_pack(pack, room, backend.tokenizer)
        sizes = [backend.count_prompt_tokens(map_messages(s.text, question)) for s in shards]
        over = max(sizes, default=0) + sampling.max_tokens - window
        if over <= 0:
            return shards
        room -= over + _TEMPLATE_MARGIN
    numbers = (f"cannot shard the corpus for a {window}-token window: instructions and question "
               f"take {overhead} tokens and the answer reserve {sampling.max_tokens}")
    raise PromptTooLong(
        f"{numbers}; lower the max-tokens setting or use a model with a longer window",
        cli=f"{numbers}; lower --max-tokens or use a model with a longer window")


@dataclass(frozen=True)
class MapReduced:
    """The merged answer (cleaned), the cleaned partial answers merged, and what cleaning did."""

    answer: Cleaned
    usage: Usage
    partials: tuple[str, ...]
    notes: tuple[str, ...]  # what the partial and intermediate answers lost before merging


def map_reduce(
    shards: Sequence[Pack],
    question: str,
    backend: Backend,
    *,
    cache: AnswerCache | None,
    sampling: SamplingSettings,
    refresh: bool = False,
    progress: Progress = no_progress,
) -> MapReduced:
    """Answer `question` over `shards`: map each (cached per shard), then reduce to one answer.
    Every map and reduce result is cleaned (engine/cleanup.py) before it is merged or returned,
    so a shard that echoed the prompt or looped cannot fill the reduce prompt."""
    (result,) = map_reduce_all(
        shards, [question], backend, cache=cache, sampling=sampling, refresh=refresh,
        progress=progress,
    )
    return result


def map_reduce_all(
    shards: Sequence[Pack],
    questions: Sequence[str],
    backend: Backend,
    *,
    cache: AnswerCache | None,
    sampling: SamplingSettings,
    refresh: bool = False,
    progress: Progress = no_progress,
) -> list[MapReduced]:
    """`map_reduce` for several questions: every (question, shard) map goes out in one fan-out."""
    items = [
        Request(cache_key("shard", shard.digest, question, backend, sampling),
                map_messages(shard.text, question))
        for question in questions
        for shard in shards
    ]
    report = lambda done: progress("shards", done, len(items))  # noqa: E731
    mapped = generate_cached(
        items, backend, cache=cache, sampling=sampling, refresh=refresh, on_done=report
    )
    cleaned_all = _cleaned(items, mapped, backend)
    results = []
    for number, question in enumerate(questions):
        mine = slice(number * len(shards), (number + 1) * len(shards))
        results.append(_merged(question, cleaned_all[mine], mapped[mine], backend, cache=cache,
                               sampling=sampling, refresh=refresh))
    return results


def _merged(
    question: str,
    cleaned: list[Cleaned],
    mapped: Sequence[Result],
    backend: Backend,
    *,
    cache: AnswerCache | None,
    sampling: SamplingSettings,
    refresh: bool,
) -> MapReduced:
    """One question's cleaned partial answers reduced to one, with what cleaning did to them."""
    partials = [c for c in cleaned if not is_not_in_part(c.text)]
    answer, reduce_usage, between = _reduce(
        question, partials, backend, cache=cache, sampling=sampling, refresh=refresh
    )
    merged = [c for c in [*cleaned, *between] if c is not answer]  # the answer notes its own
    notes = summed_notes(merged, f"before merging {len(cleaned)} partial answers")
    texts = tuple(c.text for c in partials)
    return MapReduced(answer, _usage(mapped) + reduce_usage, texts, notes)


def _cleaned(
    items: Sequence[Request], results: Sequence[Result], backend: Backend
) -> list[Cleaned]:
    """Each raw completion (as cached) cleaned against the prompt that produced it."""
    tokens = backend.special_tokens
    return [
        clean(_text(result), item.messages, tokens)
        for item, result in zip(items, results, strict=True)
    ]


def _text(result: Result) -> str:
    """A map or reduce request has no check, so it always has a completion."""
    if result.completion is None:
        raise RuntimeError("a request without a check came back without a reply")
    return result.completion.text


def _usage(results: Sequence[Result]) -> Usage:
    total = Usage()
    for result in results:
        completion = result.completion
        if completion is not None and not result.from_cache:
            total += Usage(
                completion.prompt_tokens,
                completion.cached_tokens,
                completion.completion_tokens,
                completion.seconds,
            )
    return total


def _reduce(
    question: str,
    partials: list[Cleaned],
    backend: Backend,
    *,
    cache: AnswerCache | None,
    sampling: SamplingSettings,
    refresh: bool,
) -> tuple[Cleaned, Usage, list[Cleaned]]:
    """Merge partial answers level by level, each group as large as the window allows; also
    returns every level's cleaned results (the last level's one is the answer)."""
    usage = Usage()
    between: list[Cleaned] = []
    while len(partials) > 1:
        texts = [partial.text for partial in partials]
        groups = group_partials(question, texts, backend, sampling)
        items = [
            Request(_group_key(question, group, backend, sampling),
                    reduce_messages(question, group), kind="reduce")
            for group in groups
        ]
        merged = generate_cached(items, backend, cache=cache, sampling=sampling, refresh=refresh)
        usage += _usage(merged)
        partials = _cleaned(items, merged, backend)
        between += partials
    return (partials[0] if partials else Cleaned(NOTHING_FOUND)), usage, between


def _group_key(
    question: str, group: Sequence[str], backend: Backend, sampling: SamplingSettings
) -> str:
    digest = hashlib.sha256("\x00".join(group).encode("utf-8")).hexdigest()
    return cache_key("reduce", digest, question, backend, sampling)


def group_partials(
    question: str, partials: Sequence[str], backend: Backend, sampling: SamplingSettings
) -> list[list[str]]:
    """Consecutive groups whose reduce prompt fits; refuses when no two partials fit together."""
    limit = backend.context_window - sampling.max_tokens
    groups: list[list[str]] = [[]]
    for partial in partials:
        candidate = [*groups[-1], partial]
        if groups[-1] and backend.count_prompt_tokens(reduce_messages(question, candidate)) > limit:
            groups.append([partial])
        else:
            groups[-1] = candidate
    if len(groups) == len(partials):
        numbers = (f"partial answers too long to merge in a {backend.context_window}-token "
                   f"window with a {sampling.max_tokens}-token reserve")
        raise PromptTooLong(f"{numbers}; lower the max-tokens setting",
                            cli=f"{numbers}; lower --max-tokens")
    return groups
