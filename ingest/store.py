"""One way to open a longread SQLite database: WAL, busy timeouts, named migrations, self-repair.

Both caches (ingest's and the engine's answers) open their file through `open_store`, so the rules
for concurrent writers and corrupt files live in one place. A database whose file is not SQLite or
fails `PRAGMA quick_check` is moved aside (`<name>.corrupt-<time>`) and rebuilt, with one warning:
a cache can always be recomputed, a crash must never make it unusable.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DatabaseError, OperationalError

from longread.ingest.errors import CacheError

log = logging.getLogger("longread")

BUSY_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class Migration:
    """A named, ordered schema step; applied once and recorded in `schema_migrations`."""

    name: str
    apply: Callable[[Connection], None]


def open_store(path: Path, migrations: Sequence[Migration]) -> Engine:
    """Open (creating, migrating or repairing) the SQLite database at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _open_checked(path, migrations)
    except (DatabaseError, sqlite3.DatabaseError) as exc:
        if _is_busy(exc):
            raise CacheError(f"cache {path} is locked by another process for too long") from exc
        moved = _move_aside(path)
        log.warning(
            "cache %s was corrupt (%s); moved to %s and rebuilt", path, _first_line(exc), moved
        )
        try:
            return _open_checked(path, migrations)
        except (DatabaseError, sqlite3.DatabaseError) as again:
            raise CacheError(f"cannot rebuild cache {path}: {_first_line(again)}") from again


def _open_checked(path: Path, migrations: Sequence[Migration]) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _configure_connection)
    try:
        with engine.connect() as conn:
            verdict = conn.exec_driver_sql("PRAGMA quick_check").scalar()
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {verdict}")
        _migrate(engine, migrations)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _configure_connection(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    # Autocommit at the driver level; transactions are opened explicitly with BEGIN IMMEDIATE so two
    # writers queue on the busy timeout instead of failing with "database is locked" on upgrade.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def write_transaction(engine: Engine) -> _WriteTransaction:
    """`with write_transaction(engine) as conn:` — BEGIN IMMEDIATE ... COMMIT (or ROLLBACK)."""
    return _WriteTransaction(engine)


class _WriteTransaction:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    def __enter__(self) -> Connection:
        self._conn = self._engine.connect()
        self._conn.exec_driver_sql("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        assert self._conn is not None
        try:
            self._conn.exec_driver_sql("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self._conn.close()


def _migrate(engine: Engine, migrations: Sequence[Migration]) -> None:
    with write_transaction(engine) as conn:
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL)"
        )
        done = {row[0] for row in conn.exec_driver_sql("SELECT name FROM schema_migrations")}
        for migration in migrations:
            if migration.name in done:
                continue
            migration.apply(conn)
            conn.execute(
                text("INSERT INTO schema_migrations (name, applied_at) VALUES (:n, :t)"),
                {"n": migration.name, "t": time.time()},
            )


def _move_aside(path: Path) -> Path:
    target = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.replace(target.with_name(target.name + suffix))
    return target


def _is_busy(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and "locked" in str(exc).lower()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
