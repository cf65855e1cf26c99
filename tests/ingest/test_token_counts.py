from __future__ import annotations

from collections.abc import Iterable, Mapping

from longread.ingest.token_counts import count_texts
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
