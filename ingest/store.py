"""One way to open a longread SQLite database: WAL, busy timeouts, named migrations, self-repair.

Both caches (ingest's and the engine's answers) open their file through `open_store`, so the rules
for concurrent writers and corrupt files live in one place. A database whose file is not SQLite or
fails `PRAGMA quick_check` is moved aside (`<name>.corrupt-<time>`) and rebuilt, with one warning:
a cache can always be recomputed, a crash must never make it unusable.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from longread.ingest.errors import CacheError

log = logging.getLogger("longread")

BUSY_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class Migration:
    """A named, ordered schema step; applied once and recorded in `schema_migrations`."""

    name: str
    apply: Callable[[Connection], None]


def open_store(path: Path | None, migrations: Sequence[Migration]) -> Engine:
    """Open (creating, migrating or repairing) the SQLite database at `path`; None: in memory."""
    if path is None:
        return _open_checked(None, migrations)
    _check_usable(path)
    try:
        return _open_checked(path, migrations)
    except (DatabaseError, sqlite3.DatabaseError) as exc:
        if _is_busy(exc):
            raise CacheError(f"cache {path} is locked by another process for too long") from exc
        if _is_unusable(exc):
            raise CacheError(f"cannot use cache {path}: {_first_line(exc)}") from exc
        moved = _move_aside(path)
        log.warning(
            "cache %s was corrupt (%s); moved to %s and rebuilt", path, _first_line(exc), moved
        )
        try:
            return _open_checked(path, migrations)
        except (DatabaseError, sqlite3.DatabaseError) as again:
            raise CacheError(f"cannot rebuild cache {path}: {_first_line(again)}") from again


def _check_usable(path: Path) -> None:
    """The cache folder exists (or can be made) and is writable; else one CacheError (exit 5)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise CacheError(f"cannot use cache folder {path.parent}: it is a file") from exc
    except OSError as exc:
        raise CacheError(f"cannot use cache folder {path.parent}: {exc.strerror or exc}") from exc
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise CacheError(f"cannot use cache folder {path.parent}: not writable")


def _open_checked(path: Path | None, migrations: Sequence[Migration]) -> Engine:
    if path is None:  # one shared connection, or each checkout would see its own empty database
        engine = create_engine("sqlite://", poolclass=StaticPool,
                               connect_args={"check_same_thread": False})
    else:
        engine = create_engine(
            f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}
        )
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
        try:
            self._conn.exec_driver_sql("BEGIN IMMEDIATE")
        except OperationalError as exc:
            self._conn.close()
            raise _translated(exc) from exc
        except BaseException:
            self._conn.close()
            raise
        return self._conn

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        """COMMIT, or ROLLBACK without hiding why: a Ctrl-C mid-statement leaves the connection
        invalidated (its closing rolls back), and a failing ROLLBACK must not replace the cause."""
        assert self._conn is not None
        conn = self._conn
        try:
            if exc is None:
                conn.exec_driver_sql("COMMIT")
            elif not conn.invalidated:
                with contextlib.suppress(SQLAlchemyError, sqlite3.Error):
                    conn.exec_driver_sql("ROLLBACK")
        except OperationalError as commit_error:
            raise _translated(commit_error) from commit_error
        finally:
            conn.close()
        if isinstance(exc, OperationalError):
            raise _translated(exc) from exc


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


def bytes_on_disk(path: Path) -> int:
    """The database's size with its WAL (0 when it does not exist yet)."""
    return sum(part.stat().st_size for part in _files_of(path) if part.exists())


def remove_store(path: Path) -> int:
    """Delete the database, its WAL, shared memory and moved-aside corrupt copies; returns the
    bytes freed. A process still holding it open writes on to the unlinked file, harmlessly."""
    parts = [*_files_of(path), path.with_name(path.name + "-shm"),
             *path.parent.glob(f"{path.name}.corrupt-*")]
    freed = 0
    for part in parts:
        try:
            freed += part.stat().st_size
            part.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise CacheError(f"cannot remove {part}: {exc.strerror or exc}") from exc
    return freed


def _files_of(path: Path) -> tuple[Path, Path]:
    return path, path.with_name(path.name + "-wal")


def _move_aside(path: Path) -> Path:
    target = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.replace(target.with_name(target.name + suffix))
    return target


def _is_busy(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and "locked" in str(exc).lower()


def _is_unusable(exc: BaseException) -> bool:
    """The file cannot be opened or written (permissions, read-only), as opposed to corrupt."""
    message = str(exc).lower()
    return isinstance(exc, OperationalError) and (
        "unable to open" in message or "readonly" in message or "disk i/o" in message
        or "full" in message
    )


def _translated(exc: OperationalError) -> CacheError:
    """A SQLite failure while writing (busy beyond the timeout, disk full) as one line, exit 5."""
    if _is_busy(exc):
        return CacheError("a cache is locked by another process for too long; try again")
    return CacheError(f"cannot write the cache: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
