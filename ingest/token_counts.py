"""Exact token counts of a pack's pieces, read from and written to the token cache.

The counting side of the budget (ingest/fidelity.py spends it): which tokenizer counts is
ingest/tokens.py; `TokenCache` is the part of the ingest cache (ingest/cache.py) counting needs, so
fitting and sharding can count through it without depending on the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Protocol

from longread.ingest.tokens import CL100K, LazyCounter, TokenCounter

_SMALL_TEXT = 2048  # characters; below this a text is counted without the thread pool


class TokenCache(Protocol):
    """Token counts of text blocks by (tokenizer name, sha256 of the block's utf-8 bytes)."""

    def get_token_counts(self, tokenizer: str, digests: Sequence[str]) -> dict[str, int]: ...

    def put_token_counts(self, tokenizer: str, counts: Mapping[str, int]) -> None: ...

    def get_counted_by(self, expected: str) -> str | None: ...

    def put_counted_by(self, expected: str, tokenizer: str) -> None: ...


def is_additive(counter: TokenCounter) -> bool:
    """cl100k never merges a "\\n" with a following non-space char, so piece counts add up."""
    return counter.name == CL100K


def count_texts(
    texts: Sequence[str],
    *,
    counter: TokenCounter,
    cache: TokenCache | None = None,
    encoded: Sequence[bytes] | None = None,
) -> list[int]:
    """Exact counts of `texts`, read from and written to `cache` so warm runs skip tokenizing;
    `encoded` (the texts as UTF-8, when the caller has them) saves encoding them again."""
    if cache is None:
        return count_fresh(texts, counter)
    if isinstance(counter, LazyCounter):
        counter.recall(cache.get_counted_by)
    name = counter.name
    data = encoded if encoded is not None else [encode(text) for text in texts]
    digests = [hashlib.sha256(item).hexdigest() for item in data]
    known = cache.get_token_counts(name, sorted(set(digests)))
    missing = sorted(
        {digest: index for index, digest in enumerate(digests) if digest not in known}.items()
    )
    if missing:
        counted = count_fresh([texts[index] for _, index in missing], counter)
        fresh = {digest: count for (digest, _), count in zip(missing, counted, strict=True)}
        cache.put_token_counts(counter.name, fresh)
        if counter.name != name:  # it loaded as another counter than last time: recount with it
            _record_resolution(counter, cache)
            return count_texts(texts, counter=counter, cache=cache, encoded=data)
        known = {**known, **fresh}
    return [known[digest] for digest in digests]


def _record_resolution(counter: TokenCounter, cache: TokenCache) -> None:
    """Which counter a lazily named one turned out to be, so the next run looks its counts up
    under that name without loading it (a server's answers then need no server)."""
    if isinstance(counter, LazyCounter):
        cache.put_counted_by(counter.expected, counter.name)


class CachedCounter:
    """A counter whose every count goes through the token cache (None: none kept)."""

    def __init__(self, counter: TokenCounter, cache: TokenCache | None) -> None:
        self._counter, self._cache = counter, cache

    @property
    def name(self) -> str:
        return self._counter.name

    def count(self, text: str) -> int:
        return count_texts([text], counter=self._counter, cache=self._cache)[0]

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return count_texts(texts, counter=self._counter, cache=self._cache)


def counts_each_through_cache(counter: TokenCounter) -> bool:
    """A server's counter: each count it makes is a request, so even a tree line's is cached, and
    a warm budgeted pack asks the server nothing (a local tokenizer counts faster than a lookup)."""
    return isinstance(counter, LazyCounter) and counter.named_on_load


def count_fresh(texts: Sequence[str], counter: TokenCounter) -> list[int]:
    """Large texts go to the threaded batch; small ones are counted one by one, since a batch
    pays a thread hand-off per text (3x slower than the counting itself for 50k tiny files)."""
    large = [index for index, text in enumerate(texts) if len(text) >= _SMALL_TEXT]
    counts = [0 if len(text) >= _SMALL_TEXT else counter.count(text) for text in texts]
    for index, count in zip(large, counter.count_many([texts[i] for i in large]), strict=True):
        counts[index] = count
    return counts


def encode(text: str) -> bytes:
    """UTF-8 as the pack is written and hashed (lone surrogates from a PDF pass through)."""
    return text.encode("utf-8", "surrogatepass")
