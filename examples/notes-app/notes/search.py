"""Ranks notes for a query: every query word must appear; recent notes win ties."""

from __future__ import annotations

import re

from notes.store import Note

WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return [word.lower() for word in WORD.findall(text)]


def score(note: Note, query: str) -> float:
    """Counts query words in the body; tags count double. Zero if any word is missing."""
    body = words(note.body)
    total = 0.0
    for word in words(query):
        hits = body.count(word) + 2 * note.tags.count(word)
        if hits == 0:
            return 0.0
        total += hits
    return total


def search(notes: list[Note], query: str, limit: int = 10) -> list[Note]:
    scored = [(score(note, query), note) for note in notes]
    ranked = sorted(
        (pair for pair in scored if pair[0] > 0),
        key=lambda pair: (pair[0], pair[1].created),
        reverse=True,
    )
    return [note for _, note in ranked[:limit]]
