"""A longread cache on PostgreSQL (`--cache-url postgresql://…`), through SQLAlchemy Core + psycopg.

One database can hold both caches: each keeps its tables in a PostgreSQL schema of its own
(`longread_ingest`, `longread_answers`), with its own `schema_migrations`. Opening takes a
transaction-level advisory lock, so N runners starting at once migrate once. Every write is one
transaction of `INSERT ... ON CONFLICT`, so concurrent writers lose no row. Whatever fails (an
unreachable server, a refused password, a table with other columns, a migration this longread does
not know) is one CacheError line (exit 5) naming the URL with its password masked.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from longread.ingest.errors import CacheError, UsageError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from longread.ingest.store import Schema

SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
CONNECT_TIMEOUT_S = 10
_LOCK_KEY = 0x6C6F6E67  # "long": the advisory lock every longread migration takes


def is_database_url(where: object) -> bool:
    return isinstance(where, str) and where.split("://", 1)[0] in SCHEMES and "://" in where


def check_url(url: str, source: str = "--cache-url") -> None:
    """A URL longread can use as a cache, else one UsageError line (exit 2), password masked."""
    if not is_database_url(url):
        scheme = url.split("://", 1)[0] if "://" in url else "no scheme"
        raise UsageError(f"{source}: expected a postgresql://user@host/database URL, got {scheme}")


def shown(url: str) -> str:
    """The URL with its password (user:PASSWORD@ or ?password=) replaced by ***, for messages,
    stats and logs."""
    masked = re.sub(r"^([^:/]+://[^:@/]*:)[^@/]*@", r"\1***@", url)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", masked)


class PgStore:
    """A pool of connections to one database, its queries run in one PostgreSQL schema."""

    def __init__(self, engine: Engine, url: str, schema: str) -> None:
        self._engine = engine
        self._url = url
        self.schema = schema
        self.shown = shown(url)

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of one query written with `?` placeholders (the SQLite store's style)."""
        from sqlalchemy import text

        sql, binds = _named(statement, params)
        with self._errors("read"), self._engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), binds)]

    def put(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
            keys: Sequence[str], replace: bool = True) -> None:
        """Insert `rows` in one transaction; a row whose key exists replaces it (or is dropped).
        PostgreSQL text cannot hold NUL, so a row with one is not kept: recomputed next time."""
        rows = [row for row in rows if not any(isinstance(v, str) and "\x00" in v for v in row)]
        if not rows:
            return
        from sqlalchemy import column
        from sqlalchemy import table as table_of
        from sqlalchemy.dialects.postgresql import insert

        statement = insert(table_of(table, *(column(name) for name in columns)))
        others = {name: statement.excluded[name] for name in columns if name not in keys}
        statement = (statement.on_conflict_do_update(index_elements=list(keys), set_=others)
                     if replace and others else
                     statement.on_conflict_do_nothing(index_elements=list(keys)))
        values = [dict(zip(columns, row, strict=True)) for row in rows]
        with self._errors("write"), self._engine.begin() as conn:
            conn.execute(statement, values)

    def delete_all(self, table: str) -> int:
        from sqlalchemy import text

        with self._errors("write"), self._engine.begin() as conn:
            return int(conn.execute(text(f"DELETE FROM {table}")).rowcount)

    def size(self) -> int:
        """Bytes of this schema's tables with their indexes and TOAST."""
        found = self.rows(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = ? AND c.relkind = 'r'",
            (self.schema,),
        )
        return int(found[0][0])

    def close(self) -> None:
        self._engine.dispose()

    def _errors(self, doing: str) -> Any:
        return _Translate(doing, self._url)


def open_pg_store(url: str, schema: Schema) -> PgStore:
    """Connect, migrate (once across processes) and check the schema; else one CacheError."""
    namespace = f"longread_{schema.name}"
    engine = _engine(url, namespace)
    try:
        with _Translate("open", url), engine.begin() as conn:
            _migrate(conn, schema, namespace)
            _check_columns(conn, schema, namespace, url)
    except BaseException:
        engine.dispose()
        raise
    return PgStore(engine, url, namespace)


def _engine(url: str, namespace: str) -> Engine:
    try:
        import psycopg  # noqa: F401
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
    except ImportError as exc:  # the `postgres` extra is not installed: this cache cannot be used
        raise CacheError(
            "a postgresql:// cache needs psycopg: pip install 'longread[postgres]'"
        ) from exc
    try:
        parsed = make_url(url).set(drivername="postgresql+psycopg")
    except Exception as exc:  # noqa: BLE001 — any unparsable URL is the user's to fix
        raise UsageError(f"cannot read the cache URL {shown(url)}") from exc
    args = {"options": f"-c search_path={namespace}"}
    if "connect_timeout" not in parsed.query:
        args["connect_timeout"] = str(CONNECT_TIMEOUT_S)
    return create_engine(parsed, connect_args=args, pool_pre_ping=True)


def _migrate(conn: Connection, schema: Schema, namespace: str) -> None:
    """Apply the pending named migrations under the advisory lock; refuse a future schema."""
    from sqlalchemy import text

    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    record = f"{namespace}.schema_migrations"
    if conn.execute(text("SELECT to_regclass(:t)"), {"t": record}).scalar() is None:
        # Only a new database is created in: a role that may not CREATE can use a migrated one.
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {namespace}")
        conn.exec_driver_sql(
            f"CREATE TABLE {record} (name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION)"
        )
    done = {row[0] for row in conn.exec_driver_sql(
        f"SELECT name FROM {namespace}.schema_migrations")}
    known = {migration.name for migration in schema.migrations}
    unknown = sorted(done - known)
    if unknown:
        raise CacheError(f"the cache database's {namespace} schema was migrated by a newer"
                         f" longread ({unknown[-1]}); use another database or upgrade longread")
    for migration in schema.migrations:
        if migration.name not in done:
            migration.apply(conn)
            conn.execute(
                text(f"INSERT INTO {namespace}.schema_migrations VALUES (:n, :t)"),
                {"n": migration.name, "t": time.time()},
            )


def _check_columns(conn: Connection, schema: Schema, namespace: str, url: str) -> None:
    """Each table has exactly the columns this longread reads and writes."""
    from sqlalchemy import text

    found: dict[str, set[str]] = {}
    for table, name in conn.execute(
        text("SELECT table_name, column_name FROM information_schema.columns"
             " WHERE table_schema = :schema"), {"schema": namespace}
    ):
        found.setdefault(table, set()).add(name)
    for table, columns in schema.tables.items():
        if table not in found:
            raise CacheError(f"the cache database {shown(url)} lacks the table {namespace}.{table}"
                             f" its migrations made; use another database or drop that schema")
        if found[table] != set(columns):
            raise CacheError(
                f"the cache database {shown(url)} has a table {namespace}.{table} with other"
                f" columns than longread's; use another database or drop that schema"
            )


def _named(statement: str, params: Sequence[Any] | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """`?` placeholders as :p0, :p1, ... (text() binds); a mapping is already named."""
    if isinstance(params, Mapping):
        return statement, dict(params)
    pieces = statement.split("?")
    if len(pieces) - 1 != len(params):
        raise ValueError(f"{len(pieces) - 1} placeholders for {len(params)} values")
    sql = "".join(piece + (f":p{n}" if n < len(params) else "") for n, piece in enumerate(pieces))
    return sql, {f"p{n}": value for n, value in enumerate(params)}


class _Translate:
    """A database failure as one CacheError line without the password (exit 5)."""

    def __init__(self, doing: str, url: str) -> None:
        self._doing = doing
        self._url = url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        from sqlalchemy.exc import DBAPIError, SQLAlchemyError

        if exc is None or not isinstance(exc, SQLAlchemyError | _driver_errors()):
            return
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        password = _password(self._url)
        for secret in {password, unquote(password)} - {""}:
            line = line.replace(secret, "***")
        raise CacheError(f"cannot {self._doing} the cache database {shown(self._url)}: {line}") \
            from None


def _driver_errors() -> type[BaseException]:
    import psycopg

    return psycopg.Error


def _password(url: str) -> str:
    match = re.match(r"^[^:/]+://[^:@/]*:([^@/]*)@", url) or re.search(r"[?&]password=([^&]*)", url)
    return match.group(1) if match else ""
