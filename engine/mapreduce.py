"""Past the window: shard the pack, answer each shard (map), merge the partial answers (reduce).

Every model call here goes through `generate_cached` (engine/fanout.py): results are written to the
cache as they come back, so a run killed half-way loses only what was in flight and resumes there.
The maps of several questions over the same shards go out together, so a server sees them all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from longread.engine.answer_cache import AnswerCache, answer_key
from longread.engine.backend import Backend, Completion, SamplingSettings
from longread.engine.errors import PromptTooLong
from longread.engine.fanout import generate_cached
from longread.engine.prompt import (
    PROMPT_VERSION,
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


def cache_key(
    kind: str, digest: str, question: str, backend: Backend, sampling: SamplingSettings
) -> str:
    """The answer-cache key of one result: input digest, question, model, sampling, prompt."""
    return answer_key(
        pack_digest=digest,
        question=question,
        model_identity=backend.identity(),
        sampling=sampling,
        prompt_version=PROMPT_VERSION,
        kind=kind,
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


def map_reduce(
    shards: Sequence[Pack],
    question: str,
    backend: Backend,
    *,
    cache: AnswerCache | None,
    sampling: SamplingSettings,
    refresh: bool = False,
    progress: Progress = no_progress,
) -> tuple[str, Usage, tuple[str, ...]]:
    """Answer `question` over `shards`: map each (cached per shard), then reduce to one answer.
    Also returns the partial answers that went into the merge (what each shard contributed)."""
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
) -> list[tuple[str, Usage, tuple[str, ...]]]:
    """`map_reduce` for several questions: every (question, shard) map goes out in one fan-out."""
    items = [
        (
            cache_key("shard", shard.digest, question, backend, sampling),
            map_messages(shard.text, question),
        )
        for question in questions
        for shard in shards
    ]
    report = lambda done: progress("shards", done, len(items))  # noqa: E731
    mapped = generate_cached(
        items, backend, cache=cache, sampling=sampling, refresh=refresh, on_done=report
    )
    results = []
    for number, question in enumerate(questions):
        mine = mapped[number * len(shards) : (number + 1) * len(shards)]
        partials = [c.text for c, _ in mine if not is_not_in_part(c.text)]
        text, reduce_usage = _reduce(
            question, partials, backend, cache=cache, sampling=sampling, refresh=refresh
        )
        results.append((text, _usage(mine) + reduce_usage, tuple(partials)))
    return results


def _usage(results: Sequence[tuple[Completion, bool]]) -> Usage:
    total = Usage()
    for completion, from_cache in results:
        if not from_cache:
            total += Usage(
                completion.prompt_tokens,
                completion.cached_tokens,
                completion.completion_tokens,
                completion.seconds,
            )
    return total


def _reduce(
    question: str,
    partials: list[str],
    backend: Backend,
    *,
    cache: AnswerCache | None,
    sampling: SamplingSettings,
    refresh: bool,
) -> tuple[str, Usage]:
    """Merge partial answers level by level, each group as large as the window allows."""
    usage = Usage()
    while len(partials) > 1:
        groups = group_partials(question, partials, backend, sampling)
        items = [
            (_group_key(question, group, backend, sampling), reduce_messages(question, group))
            for group in groups
        ]
        merged = generate_cached(
            items, backend, cache=cache, sampling=sampling, refresh=refresh, kind="reduce"
        )
        usage += _usage(merged)
        partials = [completion.text for completion, _ in merged]
    return (partials[0] if partials else NOTHING_FOUND), usage


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
