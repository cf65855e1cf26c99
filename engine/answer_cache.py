"""The answer cache: whole answers and map-reduce shard results, keyed by all that shapes them.

A key is the sha256 of canonical JSON over (pack digest, question, model identity, sampling, prompt
version, kind, extra), so any change to what the model sees or how it samples misses the cache.
The database is opened through `open_store` (SQLite: WAL, queued writers, self-repair; or
PostgreSQL); this module imports neither vLLM nor torch, so a cache hit answers without loading a
model.
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
from longread.ingest.store import Migration, Schema, create_tables, open_store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

KEY_VERSION = 1


def _create_answers(conn: Connection) -> None:
    """SQLAlchemy Core DDL: the same table on SQLite and PostgreSQL, each in its own types."""
    from sqlalchemy import BigInteger, Column, Float, Index, MetaData, Table, Text

    answers = Table(
        "answers", MetaData(),
        Column("key", Text, primary_key=True),
        Column("kind", Text, nullable=False),
        Column("text", Text, nullable=False),
        Column("prompt_tokens", BigInteger, nullable=False),
        Column("cached_tokens", BigInteger, nullable=False),
        Column("completion_tokens", BigInteger, nullable=False),
        Column("seconds", Float(53), nullable=False),
        Column("finish_reason", Text),
        Column("created_at", Float(53), nullable=False),
        Column("meta", Text, nullable=False),
    )
    Index("answers_kind", answers.c.kind)
    create_tables(conn, answers)


MIGRATIONS = (Migration("0001_answers", _create_answers),)
COLUMNS = ("key", "kind", "text", "prompt_tokens", "cached_tokens", "completion_tokens", "seconds",
           "finish_reason", "created_at", "meta")
SCHEMA = Schema("answers", {"answers": COLUMNS}, MIGRATIONS)
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
    """Answers in one SQLite file (WAL + BEGIN IMMEDIATE) or one PostgreSQL database (a
    `postgresql://` URL); safe for several processes at once either way."""

    def __init__(self, where: Path | str) -> None:
        self.where = where
        self._store = open_store(where, SCHEMA)

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
        self._store.put("answers", COLUMNS, [tuple(row[name] for name in COLUMNS)], keys=("key",))

    def stats(self) -> dict[str, Any]:
        """Rows, bytes on disk (WAL included), rows per kind, oldest and newest entry times."""
        [(rows, oldest, newest)] = self._store.rows(
            "SELECT COUNT(*), MIN(created_at), MAX(created_at) FROM answers"
        )
        kinds = self._store.rows("SELECT kind, COUNT(*) FROM answers GROUP BY kind ORDER BY kind")
        return {
            "path": self._store.shown,
            "rows": rows,
            "bytes": self._store.size(),
            "by_kind": {kind: count for kind, count in kinds},
            "oldest": oldest,
            "newest": newest,
        }

    def clear(self) -> int:
        """Delete every row; returns how many there were."""
        return self._store.delete_all("answers")

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> AnswerCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

