"""One way to open a longread cache database: SQLite (WAL, busy timeouts, named migrations,
self-repair) or, for a `postgresql://` URL, PostgreSQL (ingest/pg_store.py).

Both caches (ingest's and the engine's answers) open their database through `open_store`, so the
rules for concurrent writers and corrupt files live in one place. Both stores offer the same calls
(`rows` with `?` placeholders, `put` = insert-or-replace, `delete_all`, `size`), so a cache's code
does not know which database it is on. A database whose file is not SQLite or
fails `PRAGMA quick_check` is moved aside (`<name>.corrupt-<time>`) and rebuilt, with one warning:
a cache can always be recomputed, a crash must never make it unusable.

Reads and writes go through the standard library's driver; SQLAlchemy applies the schema's named
migrations, and is imported only when one is pending (a new or older file). Importing SQLAlchemy
costs ~0.28 s here, over half of what a whole cache-hit `longread ask` may take.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from longread.ingest.errors import CacheError
from longread.ingest.private import private_dir, private_file, tighten

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection

log = logging.getLogger("longread")

BUSY_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class Migration:
    """A named, ordered schema step; applied once and recorded in `schema_migrations`."""

    name: str
    apply: Callable[[Connection], None]


def create_tables(conn: Connection, *tables: Table) -> None:
    """Create SQLAlchemy Core tables (and their indexes) in the connection's own dialect: one
    definition gives SQLite and PostgreSQL each their types. Each statement runs as plain SQL."""
    from sqlalchemy.schema import CreateIndex, CreateTable

    for table in tables:
        statements: list[CreateTable | CreateIndex] = [
            CreateTable(table), *(CreateIndex(index) for index in table.indexes)
        ]
        for statement in statements:
            conn.exec_driver_sql(str(statement.compile(dialect=conn.dialect)).strip())


@dataclass(frozen=True)
class Schema:
    """What one cache keeps: a name (its PostgreSQL schema is `longread_<name>`), its tables'
    columns (checked on PostgreSQL before use) and its named migrations, in order."""

    name: str
    tables: Mapping[str, tuple[str, ...]]
    migrations: tuple[Migration, ...]


class Database(Protocol):
    """What a cache may ask of its database, SQLite or PostgreSQL."""

    shown: str  # where it is, for messages (a URL's password masked)

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def put(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
            keys: Sequence[str], replace: bool = True) -> None: ...

    def delete_all(self, table: str) -> int: ...

    def size(self) -> int: ...

    def close(self) -> None: ...


class Store:
    """One connection to one database, shared by the threads of a process under a lock."""

    def __init__(self, connection: sqlite3.Connection, path: Path | None = None) -> None:
        self._conn = connection
        self._lock = threading.RLock()
        self.path = path
        self.shown = str(path) if path is not None else ":memory:"

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of one query."""
        with self._lock:
            try:
                return self._conn.execute(statement, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise _translated(exc, "read") from exc

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """`with store.write() as conn:` — BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error
        (Ctrl-C included) without hiding the cause; two writers queue on the busy timeout."""
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise _translated(exc, "write") from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError):  # a full disk, a lock held too long
                    raise _translated(exc, "write") from exc
                raise

    def put(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
            keys: Sequence[str], replace: bool = True) -> None:
        """Insert `rows` in one transaction; a row whose key exists replaces it (or is dropped)."""
        if not rows:
            return
        verb = "REPLACE" if replace else "IGNORE"
        statement = (f"INSERT OR {verb} INTO {table} ({', '.join(columns)})"
                     f" VALUES ({', '.join('?' * len(columns))})")
        with self.write() as conn:
            conn.executemany(statement, rows)

    def delete_all(self, table: str) -> int:
        """Delete every row of `table` and shrink the WAL; returns how many rows there were."""
        with self.write() as conn:
            removed = conn.execute(f"DELETE FROM {table}").rowcount
        self.rows("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(removed)

    def size(self) -> int:
        return 0 if self.path is None else bytes_on_disk(self.path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def open_store(where: Path | str | None, schema: Schema) -> Database:
    """Open (creating, migrating or repairing) the SQLite database at `where` (None: in memory),
    or the PostgreSQL database a `postgresql://` URL names; both answer the same calls."""
    if isinstance(where, str):
        from longread.ingest.pg_store import check_url, open_pg_store

        check_url(where)
        return open_pg_store(where, schema)
    return _open_sqlite(where, schema.migrations)


def _open_sqlite(path: Path | None, migrations: Sequence[Migration]) -> Store:
    if path is None:
        return _open_checked(None, migrations)
    _check_usable(path)
    try:
        return _open_checked(path, migrations)
    except sqlite3.DatabaseError as exc:
        if _is_busy(exc):
            raise CacheError(f"cache {path} is locked by another process for too long") from exc
        if not _is_corrupt(exc):
            raise CacheError(f"cannot use cache {path}: {_first_line(exc)}") from exc
        moved = _move_aside(path)
        log.warning(
            "cache %s was corrupt (%s); moved to %s and rebuilt", path, _first_line(exc), moved
        )
        try:
            return _open_checked(path, migrations)
        except sqlite3.DatabaseError as again:
            raise CacheError(f"cannot rebuild cache {path}: {_first_line(again)}") from again


def _check_usable(path: Path) -> None:
    """The cache folder exists (or can be made), 0700 and writable; else one CacheError (exit 5)."""
    try:
        private_dir(path.parent)
    except FileExistsError as exc:
        raise CacheError(f"cannot use cache folder {path.parent}: it is a file") from exc
    except OSError as exc:
        raise CacheError(f"cannot use cache folder {path.parent}: {exc.strerror or exc}") from exc
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise CacheError(f"cannot use cache folder {path.parent}: not writable")


def _open_checked(path: Path | None, migrations: Sequence[Migration]) -> Store:
    if path is not None:
        _make_private(path)
    conn = _connect(path)
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {verdict}")
        conn.execute("PRAGMA journal_mode=WAL")
        pending = _pending(conn, migrations)
        if pending:
            _migrate(conn, pending)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # what a migration dropped leaves
    except BaseException:
        conn.close()
        raise
    return Store(conn, path)


def _make_private(path: Path) -> None:
    """The database 0600 before SQLite opens it (its -wal and -shm then take that mode), and any
    looser file an older longread left (a moved-aside corrupt copy too) tightened."""
    try:
        private_file(path)
    except OSError as exc:
        raise CacheError(f"cannot use cache {path}: {exc.strerror or exc}") from exc
    tighten([*(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")),
             *path.parent.glob(f"{path.name}.corrupt-*")])


def _connect(path: Path | None) -> sqlite3.Connection:
    """Autocommit at the driver level: transactions are opened explicitly with BEGIN IMMEDIATE,
    so two writers queue on the busy timeout instead of failing with "database is locked"."""
    conn = sqlite3.connect(
        ":memory:" if path is None else str(path),
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,  # the Store's lock serialises the threads that share it
    )
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA secure_delete=ON")  # a deleted row's text is overwritten, not left
    return conn


def _pending(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> list[Migration]:
    """The migrations this file has not recorded (all of them for a new file)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not exists:
        return list(migrations)
    done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    return [migration for migration in migrations if migration.name not in done]


def _migrate(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> None:
    """Apply `migrations` through SQLAlchemy on this very connection, in one BEGIN IMMEDIATE
    transaction; a process that migrated first while this one waited is seen, not redone."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import StaticPool

    engine = create_engine("sqlite://", creator=lambda: conn, poolclass=StaticPool)
    try:
        with engine.connect() as sa_conn:
            sa_conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                sa_conn.exec_driver_sql(
                    "CREATE TABLE IF NOT EXISTS schema_migrations"
                    " (name TEXT PRIMARY KEY, applied_at REAL)"
                )
                done = {row[0] for row in sa_conn.exec_driver_sql(
                    "SELECT name FROM schema_migrations"
                )}
                for migration in migrations:
                    if migration.name in done:
                        continue
                    migration.apply(sa_conn)
                    sa_conn.execute(
                        text("INSERT INTO schema_migrations (name, applied_at) VALUES (:n, :t)"),
                        {"n": migration.name, "t": time.time()},
                    )
                sa_conn.exec_driver_sql("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # Ctrl-C may have closed it: say so
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                raise
    except DBAPIError as exc:  # the driver's own error, which open_store knows how to judge
        raise exc.orig from exc  # type: ignore[misc]
    conn.isolation_level = None  # whatever the dialect set on connect


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
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()


_CORRUPT_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    """The file is damaged (not SQLite, or failing `quick_check`), as opposed to unusable for now
    (locked, read-only, a full disk, a connection closed by Ctrl-C): only damage is moved aside."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code in _CORRUPT_CODES or (code is None and str(exc).startswith("quick_check:"))


def _translated(exc: sqlite3.DatabaseError, doing: str) -> CacheError:
    """A SQLite failure while reading or writing (busy beyond the timeout, disk full) as one line,
    exit 5."""
    if _is_busy(exc):
        return CacheError("a cache is locked by another process for too long; try again")
    return CacheError(f"cannot {doing} the cache: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
