"""Choosing each document's fidelity so the pack fills its token budget without crossing it.

Greedy by relevance over exact per-document costs: every document starts as a path entry
(lowest-ranked ones dropped if even paths overflow), then in rank order each is upgraded to full
text if it fits, else to its outline if that fits. Outlines are asked for only when a document
cannot go in full. `fill_head` then spends what is left on the head of one more document.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from longread.ingest.tokens import CL100K, TokenCounter

FULL, OUTLINE, PATH, SKIPPED = "full", "outline", "path", "skipped"
_SMALL_TEXT = 2048  # characters; below this a text is counted without the thread pool


class TokenCache(Protocol):
    """Token counts of text blocks by (tokenizer name, sha256 of the block's utf-8 bytes)."""

    def get_token_counts(self, tokenizer: str, digests: Sequence[str]) -> dict[str, int]: ...

    def put_token_counts(self, tokenizer: str, counts: Mapping[str, int]) -> None: ...


@dataclass(frozen=True)
class Candidate:
    """One document's exact costs (tree line + block) at full and path fidelity."""

    path: str
    full: int
    path_only: int


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
    data = encoded if encoded is not None else [encode(text) for text in texts]
    digests = [hashlib.sha256(item).hexdigest() for item in data]
    known = cache.get_token_counts(counter.name, sorted(set(digests)))
    missing = sorted(
        {digest: index for index, digest in enumerate(digests) if digest not in known}.items()
    )
    if missing:
        counted = count_fresh([texts[index] for _, index in missing], counter)
        fresh = {digest: count for (digest, _), count in zip(missing, counted, strict=True)}
        cache.put_token_counts(counter.name, fresh)
        known = {**known, **fresh}
    return [known[digest] for digest in digests]


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
    outline_cost: Callable[[str], int | None],
) -> dict[str, str]:
    """Fidelity per path for candidates in rank order (best first) within `available` tokens."""
    choice = _paths_that_fit(ranked, available)
    cost = {c.path: c.path_only for c in ranked if choice[c.path] == PATH}
    remaining = available - sum(cost.values())
    for candidate in ranked:
        if choice[candidate.path] != PATH:
            continue
        if candidate.full - candidate.path_only <= remaining:
            choice[candidate.path] = FULL
            remaining -= candidate.full - candidate.path_only
            continue
        outline = outline_cost(candidate.path) if remaining > 0 else None
        if outline is not None and candidate.path_only < outline <= candidate.path_only + remaining:
            choice[candidate.path] = OUTLINE
            remaining -= outline - candidate.path_only
    return choice


def _paths_that_fit(ranked: Sequence[Candidate], available: int) -> dict[str, str]:
    """Path entries for all; the lowest-ranked dropped until they fit, small ones re-added."""
    choice = {candidate.path: PATH for candidate in ranked}
    total = sum(candidate.path_only for candidate in ranked)
    dropped: list[Candidate] = []
    for candidate in reversed(ranked):
        if total <= available:
            break
        choice[candidate.path] = SKIPPED
        total -= candidate.path_only
        dropped.append(candidate)
    for candidate in reversed(dropped):
        if total + candidate.path_only <= available:
            choice[candidate.path] = PATH
            total += candidate.path_only
    return choice


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
