"""Notes and their tags in one SQLite file."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
    note_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (note_id, tag)
);
"""


@dataclass(frozen=True)
class Note:
    id: int
    body: str
    created: float
    tags: tuple[str, ...]


def default_path() -> Path:
    return Path(os.environ.get("NOTES_DB", Path.home() / ".notes.db"))


class NoteStore:
    """Opens the database once; every method is one short transaction."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.executescript(SCHEMA)

    def add(self, body: str, tags: list[str]) -> Note:
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO notes (body, created) VALUES (?, ?)", (body, time.time())
            )
            note_id = cursor.lastrowid
            self.db.executemany(
                "INSERT OR IGNORE INTO tags (note_id, tag) VALUES (?, ?)",
                [(note_id, tag.lower()) for tag in tags],
            )
        return self.get(note_id)

    def get(self, note_id: int) -> Note:
        row = self.db.execute(
            "SELECT id, body, created FROM notes WHERE id = ?", (note_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no note {note_id}")
        tags = tuple(
            tag for (tag,) in self.db.execute(
                "SELECT tag FROM tags WHERE note_id = ? ORDER BY tag", (note_id,)
            )
        )
        return Note(row[0], row[1], row[2], tags)

    def all(self) -> list[Note]:
        ids = [row[0] for row in self.db.execute("SELECT id FROM notes ORDER BY created")]
        return [self.get(note_id) for note_id in ids]

    def with_tag(self, tag: str) -> list[Note]:
        ids = self.db.execute(
            "SELECT note_id FROM tags WHERE tag = ? ORDER BY note_id", (tag.lower(),)
        )
        return [self.get(note_id) for (note_id,) in ids]

    def delete(self, note_id: int) -> None:
        with self.db:
            self.db.execute("DELETE FROM notes WHERE id = ?", (note_id,))
