"""answer_questions with the fake backend: one pass batching, cache hits without an engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from longread.engine.answer import answer_questions
from longread.engine.answer_cache import AnswerCache
from longread.engine.backend import Backend, SamplingSettings
from longread.engine.session import Session
from longread.ingest.pack import Pack, build_pack
from tests.fakes import FakeBackend, code_documents

SAMPLING = SamplingSettings(max_tokens=64)
QUESTIONS = ["Where is the zebra?", "What does f1 return?", "Which file is longest?"]


def _pack(backend: FakeBackend, files: int) -> Pack:
    documents = code_documents(files, marked=tuple(range(files)))
    return build_pack(documents, counter=backend.tokenizer, line_numbers=True)


def test_one_pass_prefills_with_the_first_question_then_batches_the_rest() -> None:
    backend = FakeBackend(context_window=8192)
    pack = _pack(backend, files=3)
    answers = answer_questions(pack, QUESTIONS, backend, sampling=SAMPLING)
    assert [a.question for a in answers] == QUESTIONS
    assert backend.generate_calls == 2 and len(backend.requests) == 3
    assert len({r.messages[0] for r in backend.requests}) == 1  # one shared prefix
    assert answers[0].cached_tokens == 0 and all(a.cached_tokens > 0 for a in answers[1:])
    assert all(a.shards == 1 and not a.from_cache for a in answers)


def test_cache_hit_neither_builds_nor_calls_the_engine(tmp_path: Path) -> None:
    first = FakeBackend()
    pack = _pack(first, files=3)
    with AnswerCache(tmp_path / "a.sqlite") as cache:
        fresh = answer_questions(pack, QUESTIONS, first, cache=cache, sampling=SAMPLING)
        built: list[Backend] = []

        def factory() -> Backend:
            built.append(FakeBackend())
            return built[-1]

        lazy = Session(factory, model=first.model, identify=first.identity,
                       tokenizer=first.tokenizer, concurrency=1)
        again = answer_questions(pack, QUESTIONS, lazy, cache=cache, sampling=SAMPLING)
    assert built == [] and not lazy.started
    assert [a.text for a in again] == [a.text for a in fresh] and all(a.from_cache for a in again)


def test_refresh_and_changed_sampling_miss_the_cache(tmp_path: Path) -> None:
    backend = FakeBackend()
    pack = _pack(backend, files=2)
    with AnswerCache(tmp_path / "a.sqlite") as cache:
        answer_questions(pack, QUESTIONS[:1], backend, cache=cache, sampling=SAMPLING)
        answer_questions(pack, QUESTIONS[:1], backend, cache=cache, sampling=SAMPLING, refresh=True)
        hotter = SamplingSettings(max_tokens=64, temperature=0.7)
        answer_questions(pack, QUESTIONS[:1], backend, cache=cache, sampling=hotter)
        answer_questions(pack, QUESTIONS[:1], backend, cache=cache, sampling=hotter)
    assert len(backend.requests) == 3


def test_repeated_question_is_answered_once() -> None:
    backend = FakeBackend()
    answers = answer_questions(
        _pack(backend, 2), ["Q zebra?", "Q zebra?"], backend, sampling=SAMPLING
    )
    assert len(backend.requests) == 1 and answers[0] == answers[1]


def test_a_pack_past_the_window_goes_through_map_reduce(tmp_path: Path) -> None:
    backend = FakeBackend(context_window=1024)
    pack = _pack(backend, files=12)
    assert pack.tokens > 3 * backend.context_window
    with AnswerCache(tmp_path / "a.sqlite") as cache:
        [answer] = answer_questions(
            pack, ["Where is the zebra?"], backend, cache=cache, sampling=SAMPLING
        )
        assert answer.shards > 3 and answer.text.startswith("Merged")
        calls = len(backend.requests)
        [again] = answer_questions(
            pack, ["Where is the zebra?"], backend, cache=cache, sampling=SAMPLING
        )
    assert again.from_cache and again.shards == answer.shards and len(backend.requests) == calls


def test_a_session_builds_its_engine_once_on_first_real_use_and_again_after_close() -> None:
    built: list[FakeBackend] = []
    identified: list[int] = []

    def factory() -> Backend:
        built.append(FakeBackend(context_window=4096))
        return built[-1]

    def identify() -> dict[str, Any]:
        identified.append(1)
        return {"m": 1}

    lazy = Session(factory, model="fake-model", identify=identify,
                   tokenizer=FakeBackend().tokenizer)
    pack = _pack(FakeBackend(), 1)
    answer_questions(pack, QUESTIONS, lazy, sampling=SAMPLING)
    assert len(built) == 1 and lazy.context_window == 4096
    lazy.close()
    assert built[0].closed and not lazy.started
    answer_questions(pack, QUESTIONS[:1], lazy, sampling=SAMPLING)
    assert len(built) == 2 and not hasattr(built[1], "closed")
    assert identified == [1]  # the identity is worked out once for the session's life


@pytest.mark.vllm
def test_real_engine_serves_later_questions_from_the_prefix_cache(vllm_backend: Any) -> None:
    documents = code_documents(7, marked=(3,))
    pack = build_pack(documents, counter=vllm_backend.tokenizer, line_numbers=True)
    assert 5000 < pack.tokens < 7500  # the ~6k-token corpus of the issue
    questions = ["What is ZEBRA set to?", "Which function returns value * 7 + 2?"]
    first, second = answer_questions(pack, questions, vllm_backend,
                                     sampling=SamplingSettings(max_tokens=24))
    assert first.text and second.text and first.shards == second.shards == 1
    assert first.prompt_tokens > pack.tokens and first.completion_tokens > 0
    assert second.cached_tokens >= 0.9 * pack.tokens
