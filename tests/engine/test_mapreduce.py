"""Map-reduce past the window with the fake backend: shard sizes, reduce recursion, resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from longread.engine.answer import answer_questions
from longread.engine.answer_cache import AnswerCache
from longread.engine.backend import SamplingSettings
from longread.engine.errors import PromptTooLong
from longread.engine.fanout import MAP_BATCH
from longread.engine.mapreduce import (
    NOTHING_FOUND,
    group_partials,
    map_reduce,
    shard_pack,
)
from longread.engine.prompt import map_messages
from longread.ingest.pack import Pack, build_pack
from tests.fakes import Crash, FakeBackend, RecordingBackend, code_documents

SAMPLING = SamplingSettings(max_tokens=64)


def _pack(backend: FakeBackend, *, files: int = 12, marked: tuple[int, ...] = (3, 9)) -> Pack:
    documents = code_documents(files, marked=marked)
    return build_pack(documents, counter=backend.tokenizer, line_numbers=True)


def _map_requests(backend: FakeBackend) -> int:
    return sum(r.messages[0].content.startswith("You see one part") for r in backend.requests)


def test_every_shard_prompt_fits_the_window() -> None:
    backend = FakeBackend(context_window=1024)
    pack = _pack(backend)
    shards = shard_pack(pack, "Where is zebra?", backend, SAMPLING)
    assert len(shards) >= 3 * 4  # the pack is ~4x the window
    for shard in shards:
        prompt = backend.count_prompt_tokens(map_messages(shard.text, "Where is zebra?"))
        assert prompt + SAMPLING.max_tokens <= backend.context_window


def test_map_then_reduce_keeps_only_the_parts_that_answer(tmp_path: Path) -> None:
    backend = FakeBackend(context_window=1024)
    shards = shard_pack(_pack(backend), "Where is zebra?", backend, SAMPLING)
    seen: list[tuple[str, int, int | None]] = []
    with AnswerCache(tmp_path / "answers.sqlite") as cache:
        reduced = map_reduce(
            shards,
            "Where is zebra?",
            backend,
            cache=cache,
            sampling=SAMPLING,
            progress=lambda *a: seen.append(a),
        )
    text, usage, partials = reduced.answer.text, reduced.usage, reduced.partials
    assert text == "Merged 2 mentions of zebra."
    assert len(partials) == 2 and all("zebra" in partial for partial in partials)
    assert _map_requests(backend) == len(shards)
    assert seen[-1] == ("shards", len(shards), len(shards))
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0


def test_nothing_found_needs_no_reduce(tmp_path: Path) -> None:
    backend = FakeBackend(context_window=1024)
    shards = shard_pack(_pack(backend, marked=()), "Where is zebra?", backend, SAMPLING)
    text = map_reduce(shards, "Where is zebra?", backend, cache=None, sampling=SAMPLING).answer.text
    assert text == NOTHING_FOUND and len(backend.requests) == len(shards)


def test_reduce_recurses_until_one_answer() -> None:
    backend = FakeBackend(context_window=1024)
    small = SamplingSettings(max_tokens=470)  # leaves room for only a few partials per merge
    pack = _pack(backend, files=40, marked=tuple(range(40)))
    shards = shard_pack(pack, "zebra?", backend, small)
    groups = group_partials(
        "zebra?", ["Part 0123456789ab mentions zebra."] * len(shards), backend, small
    )
    assert len(groups) > 1
    text = map_reduce(shards, "zebra?", backend, cache=None, sampling=small).answer.text
    reduces = [r for r in backend.requests if r.messages[0].content.startswith("Partial answers")]
    assert len(reduces) >= 3 and "Partial answer 1:\nMerged" in reduces[-1].messages[0].content
    assert text == f"Merged {sum('ZEBRA' in shard.text for shard in shards)} mentions of zebra."


def test_reduce_refuses_when_no_two_partials_fit() -> None:
    backend = FakeBackend(context_window=1024)
    with pytest.raises(PromptTooLong):
        group_partials("q?", ["x" * 1600] * 3, backend, SamplingSettings(max_tokens=300))


def test_a_window_too_small_to_shard_is_refused_with_numbers() -> None:
    backend = FakeBackend(context_window=400)
    with pytest.raises(PromptTooLong, match="400-token window"):
        shard_pack(_pack(backend), "Where is zebra?", backend, SamplingSettings(max_tokens=300))


def test_killed_run_resumes_without_recomputing_finished_shards(tmp_path: Path) -> None:
    question = "Where is zebra?"
    crashing = FakeBackend(context_window=1024, fail_after=2 * MAP_BATCH + 1)
    shards = shard_pack(_pack(crashing), question, crashing, SAMPLING)
    with AnswerCache(tmp_path / "answers.sqlite") as cache:
        with pytest.raises(Crash):
            map_reduce(shards, question, crashing, cache=cache, sampling=SAMPLING)
        assert len(crashing.requests) == 2 * MAP_BATCH  # the third batch died whole
        again = FakeBackend(context_window=1024)
        text = map_reduce(shards, question, again, cache=cache, sampling=SAMPLING).answer.text
        assert _map_requests(again) == len(shards) - 2 * MAP_BATCH
        third = FakeBackend(context_window=1024)
        last = map_reduce(shards, question, third, cache=cache, sampling=SAMPLING)
        assert last.answer.text == text
        assert third.requests == []  # map and reduce results all came from the cache


@pytest.mark.vllm
def test_real_engine_map_reduce_past_the_window_resumes_after_a_kill(
    small_window_backend: Any, tmp_path: Path
) -> None:
    """A real engine with a 2,048-token window: 3x the window is ~6k tokens, minutes not 20."""
    engine = small_window_backend
    pack = build_pack(code_documents(8, marked=(1, 6)), counter=engine.tokenizer,
                      line_numbers=True)
    assert engine.context_window == 2048 and pack.tokens >= 3 * engine.context_window
    question, sampling = "What is ZEBRA set to?", SamplingSettings(max_tokens=24)
    shards = shard_pack(pack, question, engine, sampling)
    with AnswerCache(tmp_path / "answers.sqlite") as cache:
        killed = RecordingBackend(engine, crash_on_call=2)
        with pytest.raises(Crash):
            answer_questions(pack, [question], killed, cache=cache, sampling=sampling)
        assert killed.map_requests() == MAP_BATCH
        resumed = RecordingBackend(engine)
        [answer] = answer_questions(pack, [question], resumed, cache=cache, sampling=sampling)
    assert resumed.map_requests() == len(shards) - MAP_BATCH  # finished shards came from the cache
    assert answer.shards == len(shards) >= 4 and answer.text
