from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longread.ingest.budget import Candidate, count_texts, fill_head, fit_to_budget
from longread.ingest.tokens import LazyCounter, TiktokenCounter


class DictTokenCache:
    """The TokenCache protocol over a dict, counting how often it is asked."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.resolved: dict[str, str] = {}

    def get_token_counts(self, tokenizer: str, hashes: Iterable[str]) -> dict[str, int]:
        return {h: self.counts[tokenizer, h] for h in hashes if (tokenizer, h) in self.counts}

    def put_token_counts(self, tokenizer: str, counts: Mapping[str, int]) -> None:
        self.counts.update({(tokenizer, h): n for h, n in counts.items()})

    def get_counted_by(self, expected: str) -> str | None:
        return self.resolved.get(expected)

    def put_counted_by(self, expected: str, tokenizer: str) -> None:
        self.resolved[expected] = tokenizer


class CountingCounter(TiktokenCounter):
    def __init__(self) -> None:
        super().__init__()
        self.counted = 0

    def count(self, text):
        self.counted += 1
        return super().count(text)

    def count_many(self, texts):
        self.counted += len(texts)
        return super().count_many(texts)


def test_top_ranked_goes_full_then_outline_then_path():
    ranked = [Candidate("a", 50), Candidate("b", 500), Candidate("c", 40), Candidate("d", 40)]
    outlines = {"a": 20, "b": 30, "c": 10, "d": None}
    asked: list[str] = []

    def reduced(path: str, left: int) -> tuple[str, int] | None:
        asked.append(path)
        cost = outlines[path]
        return None if cost is None or cost > left else ("outline", cost)

    choice = fit_to_budget(ranked, available=130, reduced=reduced)
    assert choice == {"a": "full", "b": "outline", "c": "full", "d": "path"}
    assert asked == ["b", "d"]


def test_a_held_back_document_never_goes_full():
    ranked = [Candidate("uv.lock", None), Candidate("b", 10)]
    choice = fit_to_budget(ranked, available=1000, reduced=lambda path, left: ("outline", 5))
    assert choice == {"uv.lock": "outline", "b": "full"}


def test_no_smaller_form_is_asked_for_when_everything_fits():
    ranked = [Candidate(name, 10) for name in "abc"]
    choice = fit_to_budget(ranked, available=30, reduced=lambda path, left: 1 / 0)
    assert set(choice.values()) == {"full"}


candidates = st.lists(
    st.tuples(st.one_of(st.none(), st.integers(2, 400)), st.one_of(st.none(), st.integers(1, 200))),
    max_size=30,
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(candidates, st.integers(0, 3000))
def test_fit_never_exceeds_the_available_tokens(raw, available):
    ranked = [Candidate(f"d{i}", full) for i, (full, _) in enumerate(raw)]
    outline = {f"d{i}": o for i, (_, o) in enumerate(raw)}

    def reduced(path: str, left: int) -> tuple[str, int] | None:
        cost = outline[path]
        return None if cost is None or cost > left else ("outline", cost)

    choice = fit_to_budget(ranked, available=available, reduced=reduced)
    cost = {"full": {c.path: c.full or 0 for c in ranked}, "path": dict.fromkeys(outline, 0)}
    cost["outline"] = {path: value or 0 for path, value in outline.items()}
    used = sum(cost[f][path] for path, f in choice.items())
    assert used <= available
    assert choice == fit_to_budget(ranked, available=available, reduced=reduced)
    slack = available - used
    for c in ranked:
        if choice[c.path] in ("path", "outline") and c.full is not None:
            assert c.full > slack
        if choice[c.path] == "path" and outline[c.path] is not None:
            assert outline[c.path] > slack


def test_fill_head_finds_the_largest_head_within_the_allowance():
    calls: list[int] = []

    def cost_of(k: int) -> int:
        calls.append(k)
        return 10 + 7 * k

    assert fill_head(cost_of, 1000, allowance=500) == 70
    assert len(calls) <= 11
    assert fill_head(cost_of, 1000, allowance=5) == 0


def test_count_texts_uses_the_cache_on_the_second_run():
    counter, cache = CountingCounter(), DictTokenCache()
    texts = ["def f():\n    pass\n", "hello world\n" * 400, "def f():\n    pass\n"]
    first = count_texts(texts, counter=counter, cache=cache)
    assert first == counter.count_many(texts)
    counter.counted = 0
    assert count_texts(texts, counter=counter, cache=cache) == first
    assert counter.counted == 0


class NamedCounter(CountingCounter):
    def __init__(self, name: str, factor: int) -> None:
        super().__init__()
        self.name, self.factor = name, factor

    def count(self, text):
        return super().count(text) * self.factor

    def count_many(self, texts):
        return [n * self.factor for n in super().count_many(texts)]


def test_a_lazily_named_counter_finds_its_counts_under_what_it_resolved_to_without_loading():
    """A server's counter is named `server:...` but may turn out approximate: the cache records
    what it resolved to, the next run looks there, and a counter that changed counts afresh."""
    cache, texts = DictTokenCache(), ["def f():\n    pass\n", "hello world\n" * 40]
    approx = NamedCounter("approx:server", 2)
    first = count_texts(texts, counter=LazyCounter("server", lambda: approx,
                                                   adopt_loaded_name=True), cache=cache)
    assert cache.resolved == {"server": "approx:server"}

    def refuse() -> NamedCounter:
        raise AssertionError("a warm run loaded the counter")

    warm = LazyCounter("server", refuse, adopt_loaded_name=True)
    assert count_texts(texts, counter=warm, cache=cache) == first
    assert warm.name == "approx:server"
    exact = NamedCounter("server", 1)
    changed = LazyCounter("server", lambda: exact, adopt_loaded_name=True)
    counts = count_texts([*texts, "new text\n"], counter=changed, cache=cache)
    assert counts == exact.count_many([*texts, "new text\n"])  # none of the old counter's
    assert cache.resolved == {"server": "server"} and changed.name == "server"
