"""The answer cache: whole answers and map-reduce shard results, keyed by all that shapes them.

A key is the sha256 of canonical JSON over (pack digest, question, model identity, sampling, prompt
version, kind, extra), so any change to what the model sees or how it samples misses the cache.
The file is opened through `open_store` (WAL, queued writers, self-repair); this module imports
neither vLLM nor torch, so a cache hit answers without loading a model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longread.engine.backend import Completion, SamplingSettings
from longread.ingest.store import Migration, bytes_on_disk, open_store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

KEY_VERSION = 1


def _create_answers(conn: Connection) -> None:
    conn.exec_driver_sql(
        """CREATE TABLE answers (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            cached_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            seconds REAL NOT NULL,
            finish_reason TEXT,
            created_at REAL NOT NULL,
            meta TEXT NOT NULL
        )"""
    )
    conn.exec_driver_sql("CREATE INDEX answers_kind ON answers (kind)")


MIGRATIONS = (Migration("0001_answers", _create_answers),)
_STORED = ("text", "prompt_tokens", "cached_tokens", "completion_tokens", "seconds", "created_at",
           "finish_reason", "meta")


@dataclass(frozen=True)
class CachedAnswer:
    """A stored completion with when it was made and what the caller noted about it."""

    text: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    seconds: float
    created_at: float
    finish_reason: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def completion(self) -> Completion:
        return Completion(
            text=self.text,
            prompt_tokens=self.prompt_tokens,
            cached_tokens=self.cached_tokens,
            completion_tokens=self.completion_tokens,
            seconds=self.seconds,
            finish_reason=self.finish_reason,
        )


def answer_key(
    *,
    pack_digest: str,
    question: str,
    model_identity: Mapping[str, Any],
    sampling: SamplingSettings,
    prompt_version: str,
    kind: str = "answer",
    extra: Mapping[str, Any] | None = None,
) -> str:
    """sha256 of canonical JSON over every input that can change the answer."""
    parts = {
        "v": KEY_VERSION,
        "pack": pack_digest,
        "question": question,
        "model": dict(model_identity),
        "sampling": dataclasses.asdict(sampling),
        "prompt": prompt_version,
        "kind": kind,
        "extra": dict(extra or {}),
    }
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class AnswerCache:
    """Answers in one SQLite file; safe for several processes at once (WAL + BEGIN IMMEDIATE)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._store = open_store(path, MIGRATIONS)

    def get(self, key: str) -> CachedAnswer | None:
        found = self._store.rows(f"SELECT {', '.join(_STORED)} FROM answers WHERE key = ?", (key,))
        if not found:
            return None
        row = dict(zip(_STORED, found[0], strict=True))
        return CachedAnswer(**{**row, "meta": json.loads(row["meta"])})

    def put(
        self, key: str, completion: Completion, *, kind: str = "answer", meta: Mapping[str, Any]
    ) -> None:
        """Insert or replace, all or nothing: a killed writer never leaves half an answer."""
        row = {
            **dataclasses.asdict(completion),
            "key": key,
            "kind": kind,
            "created_at": time.time(),
            "meta": json.dumps(dict(meta), sort_keys=True, default=str),
        }
        with self._store.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO answers (key, kind, text, prompt_tokens, cached_tokens,"
                " completion_tokens, seconds, finish_reason, created_at, meta) VALUES (:key,"
                " :kind, :text, :prompt_tokens, :cached_tokens, :completion_tokens, :seconds,"
                " :finish_reason, :created_at, :meta)",
                row,
            )

    def stats(self) -> dict[str, Any]:
        """Rows, bytes on disk (WAL included), rows per kind, oldest and newest entry times."""
        [(rows, oldest, newest)] = self._store.rows(
            "SELECT COUNT(*), MIN(created_at), MAX(created_at) FROM answers"
        )
        kinds = self._store.rows("SELECT kind, COUNT(*) FROM answers GROUP BY kind ORDER BY kind")
        return {
            "path": str(self.path),
            "rows": rows,
            "bytes": bytes_on_disk(self.path),
            "by_kind": {kind: count for kind, count in kinds},
            "oldest": oldest,
            "newest": newest,
        }

    def clear(self) -> int:
        """Delete every row; returns how many there were."""
        with self._store.write() as conn:
            removed = conn.execute("DELETE FROM answers").rowcount
        self._store.rows("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(removed)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> AnswerCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

