"""Questions over a pack: cache first, one pass when the pack fits the window, map-reduce when not.

In one pass the first question prefills the corpus alone; every later question then goes in one
batch, so vLLM serves the shared prefix (instructions + pack) from its prefix cache.
Every answer is cleaned (engine/cleanup.py) before it is returned or cached. The whole-answer
entry holds that final, cleaned text, so its key names the cleaner's version; the one-pass,
shard and reduce entries below it hold raw completions and need no such thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from longread.engine.answer_cache import AnswerCache, CachedAnswer
from longread.engine.backend import Backend, Completion, Message, SamplingSettings
from longread.engine.cleanup import CLEANER_VERSION, Cleaned, clean
from longread.engine.fanout import Request, Result, cache_key, cached, generate_cached
from longread.engine.mapreduce import Usage, map_reduce_all, shard_pack
from longread.engine.prompt import answer_messages
from longread.ingest.pack import Pack
from longread.ingest.progress import Progress, no_progress

DEFAULT_SAMPLING = SamplingSettings()


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    seconds: float
    from_cache: bool = False
    shards: int = 1  # 1 for a one-pass answer, else the number of shards mapped
    partials: tuple[str, ...] = ()  # map-reduce: the shards' partial answers that were merged
    notes: tuple[str, ...] = ()  # what cleaning removed from the model's output, and any cut
    cut: str | None = None  # why the text was cut short (it repeated itself); None if it was not

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 3),
            "from_cache": self.from_cache,
            "shards": self.shards,
            "notes": list(self.notes),
            "cut": self.cut is not None,
            "cut_reason": self.cut,
        }


def answer_questions(
    pack: Pack,
    questions: Sequence[str],
    backend: Backend,
    *,
    cache: AnswerCache | None = None,
    sampling: SamplingSettings = DEFAULT_SAMPLING,
    refresh: bool = False,
    progress: Progress = no_progress,
) -> list[Answer]:
    """One Answer per question, in order; cache hits never touch the model. Every raw completion
    is cached as it returns (a killed run loses only what was in flight), and each answer, cleaned,
    once it is known."""
    unique = list(dict.fromkeys(questions))
    cleaner = {"cleaner": CLEANER_VERSION}  # a merged answer's text depends on cleaned partials
    keys = {q: cache_key("answer", pack.digest, q, backend, sampling, cleaner) for q in unique}
    answers: dict[str, Answer] = {}
    if not refresh:
        for question in unique:
            if (hit := cached(cache, keys[question])) is not None:
                answers[question] = _answer_from_cache(question, hit)
    missing = [q for q in unique if q not in answers]
    if missing:
        fresh = _Fresh(pack, backend, cache, sampling, refresh, progress)
        for answer in fresh.answer(missing):
            answers[answer.question] = answer
            if cache is not None:
                meta = {"shards": answer.shards, "partials": list(answer.partials),
                        "notes": list(answer.notes), "cut": answer.cut}
                cache.put(keys[answer.question], _usage_of(answer), meta=meta)
    return [answers[question] for question in questions]


def fits_one_pass(pack: Pack, question: str, backend: Backend, sampling: SamplingSettings) -> bool:
    """Instructions + pack + question + answer reserve within the window, counted exactly."""
    window = backend.context_window
    if pack.tokens + sampling.max_tokens > window:
        return False
    prompt = backend.count_prompt_tokens(answer_messages(pack.text, question))
    return prompt + sampling.max_tokens <= window


@dataclass(frozen=True)
class _Fresh:
    """Answers no cache holds: one pass when the pack fits the window, map-reduce when not."""

    pack: Pack
    backend: Backend
    cache: AnswerCache | None
    sampling: SamplingSettings
    refresh: bool
    progress: Progress

    def answer(self, questions: list[str]) -> list[Answer]:
        longest = max(questions, key=len)
        if fits_one_pass(self.pack, longest, self.backend, self.sampling):
            return self._one_pass(questions)
        return self._map_reduce(questions, shard_pack(self.pack, longest, self.backend,
                                                      self.sampling))

    def _one_pass(self, questions: list[str]) -> list[Answer]:
        """The first question prefills the corpus alone; the rest then share its prefix. Each raw
        completion is cached under a key of its own ("one-pass"), then cleaned."""
        items = [Request(cache_key("one-pass", self.pack.digest, q, self.backend, self.sampling),
                         answer_messages(self.pack.text, q), kind="one-pass") for q in questions]
        done = self._generate(items[:1])
        if len(items) > 1:
            done += self._generate(items[1:])
        tokens = self.backend.special_tokens
        return [
            _from_completion(q, item.messages, result, tokens)
            for q, item, result in zip(questions, items, done, strict=True)
        ]

    def _generate(self, items: list[Request]) -> list[Result]:
        return generate_cached(items, self.backend, cache=self.cache, sampling=self.sampling,
                               refresh=self.refresh)

    def _map_reduce(self, questions: list[str], shards: list[Pack]) -> list[Answer]:
        merged = map_reduce_all(shards, questions, self.backend, cache=self.cache,
                                sampling=self.sampling, refresh=self.refresh,
                                progress=self.progress)
        return [
            _answer(question, reduced.answer, reduced.usage, shards=len(shards),
                    partials=reduced.partials, notes=reduced.notes)
            for question, reduced in zip(questions, merged, strict=True)
        ]


def _from_completion(
    question: str, messages: tuple[Message, ...], result: Result, tokens: frozenset[str]
) -> Answer:
    """A one-pass answer, cleaned; one whose raw completion came from the cache cost no model
    work now (as a map-reduce answer's cached shards count nothing)."""
    completion = result.completion
    if completion is None:
        raise RuntimeError("a one-pass request has no check, so it always has a reply")
    usage = Usage() if result.from_cache else Usage(
        completion.prompt_tokens,
        completion.cached_tokens,
        completion.completion_tokens,
        completion.seconds,
    )
    return _answer(question, clean(completion.text, messages, tokens), usage, shards=1)


def _answer(
    question: str,
    cleaned: Cleaned,
    usage: Usage,
    *,
    shards: int,
    partials: tuple[str, ...] = (),
    notes: tuple[str, ...] = (),
) -> Answer:
    return Answer(
        question,
        cleaned.text,
        usage.prompt_tokens,
        usage.cached_tokens,
        usage.completion_tokens,
        usage.seconds,
        from_cache=False,
        shards=shards,
        partials=partials,
        notes=notes + cleaned.notes,
        cut=cleaned.cut,
    )


def _usage_of(answer: Answer) -> Completion:
    return Completion(
        answer.text,
        answer.prompt_tokens,
        answer.cached_tokens,
        answer.completion_tokens,
        answer.seconds,
    )


def _answer_from_cache(question: str, hit: CachedAnswer) -> Answer:
    return Answer(
        question,
        hit.text,
        hit.prompt_tokens,
        hit.cached_tokens,
        hit.completion_tokens,
        hit.seconds,
        from_cache=True,
        shards=int(hit.meta.get("shards", 1)),
        partials=tuple(hit.meta.get("partials", ())),
        notes=tuple(hit.meta.get("notes", ())),
        cut=hit.meta.get("cut"),
    )
