"""Choosing each document's fidelity so the pack fills its token budget without crossing it.

Greedy by relevance over exact per-document costs: every document starts as a path entry (the
file tree, folded to its share, is paid apart: ingest/listing.py), then in rank order each is
upgraded to full text if it fits, else to a smaller form (its relevant regions, or its outline)
if that fits. `fill_head` then spends what is left on the head of one more document.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from longread.ingest.tokens import CL100K, LazyCounter, TokenCounter

FULL, OUTLINE, PATH, SKIPPED = "full", "outline", "path", "skipped"
_SMALL_TEXT = 2048  # characters; below this a text is counted without the thread pool


class TokenCache(Protocol):
    """Token counts of text blocks by (tokenizer name, sha256 of the block's utf-8 bytes)."""

    def get_token_counts(self, tokenizer: str, digests: Sequence[str]) -> dict[str, int]: ...

    def put_token_counts(self, tokenizer: str, counts: Mapping[str, int]) -> None: ...

    def get_counted_by(self, expected: str) -> str | None: ...

    def put_counted_by(self, expected: str, tokenizer: str) -> None: ...


@dataclass(frozen=True)
class Candidate:
    """One document's exact cost in full (tree line + block); None when it may not go in full."""

    path: str
    full: int | None


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


def fit_to_budget(
    ranked: Sequence[Candidate],
    *,
    available: int,
    reduced: Callable[[str, int], tuple[str, int] | None],
    choice: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Fidelity per path for candidates in rank order (best first): each path-only one goes in
    full if that fits in what is left of `available`, else in the form `reduced(path, left)`
    offers (a fidelity and its cost), else stays path-only. The file tree is paid apart."""
    chosen = dict(choice) if choice is not None else {c.path: PATH for c in ranked}
    remaining = available
    for candidate in ranked:
        if remaining <= 0:
            break
        if chosen[candidate.path] != PATH:
            continue
        if candidate.full is not None and candidate.full <= remaining:
            chosen[candidate.path] = FULL
            remaining -= candidate.full
            continue
        smaller = reduced(candidate.path, remaining)
        if smaller is not None and smaller[1] <= remaining:
            chosen[candidate.path] = smaller[0]
            remaining -= smaller[1]
    return chosen


def fill_head(
    cost_of: Callable[[int], int],
    units: int,
    *,
    allowance: int,
) -> int:
    """The most leading units (lines or pages) whose exact cost stays within `allowance`; 0 if none.

    `cost_of(k)` is the exact cost of a head of k units; it grows with k, so a binary search
    needs only log2(units) counts.
    """
    low, high = 0, units
    while low < high:
        middle = (low + high + 1) // 2
        if cost_of(middle) <= allowance:
            low = middle
        else:
            high = middle - 1
    return low
