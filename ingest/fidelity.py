"""Choosing each document's fidelity so the pack fills its token budget without crossing it.

Greedy by relevance over exact per-document costs: every document starts as a path entry (the
file tree, folded to its share, is paid apart: ingest/listing.py), then in rank order each is
upgraded to full text if it fits, else to a smaller form (its relevant regions, or its outline)
if that fits. `fill_head` then spends what is left on the head of one more document.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

FULL, OUTLINE, PATH, SKIPPED = "full", "outline", "path", "skipped"


@dataclass(frozen=True)
class Candidate:
    """One document's exact cost in full (tree line + block); None when it may not go in full."""

    path: str
    full: int | None


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
