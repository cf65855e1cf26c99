"""The ingest cache on a real PostgreSQL (tests/postgres.py): the same round trips as on SQLite,
and runners that open a fresh database at the same moment migrate it once and lose no row."""

from __future__ import annotations

import hashlib
import multiprocessing

import pytest

from longread.ingest.cache import FileStat, IngestCache, Scanned
from longread.ingest.document import Outline, Section, Symbol
from longread.ingest.errors import CacheError
from longread.ingest.textfile import Extraction


def test_every_table_round_trips_on_postgresql(pg_url: str) -> None:
    stat = FileStat("/abs/a.py", 10, 1_700_000_000_123_456_789, 2**40)  # past a 4-byte INTEGER
    pages = Extraction(sections=(Section("one", 1, True), Section("", 2, False),
                                 Section("read", 3, False, 91.5)), notes=("n",))
    outline = Outline("python", (Symbol("f", "function", 3, 9, "def f():"),), ("f",), ("int",))
    counts = {hashlib.sha256(f"block {i}".encode()).hexdigest(): i for i in range(2000)}
    with IngestCache(pg_url) as cache:
        cache.put_hashes({stat: "aa"})
        cache.put_hashes({stat: "bb"})  # a changed file replaces its row
        cache.put_scanned({"k1": Scanned(pages, ((3, "aws-access-key", 1),)),
                           "k2": Scanned(Extraction(skip_reason="x"))})
        cache.put_outline("ts-1", "sha", "python", outline)
        cache.put_token_counts("cl100k", counts)
        cache.put_clean("r1", ["a", "b"])
        cache.put_clean("r1", ["b", "c"])  # a verdict stored twice is kept once
        cache.put_counted_by("http://server|m", "hf:m")
        cache.put_ocr({"page-key": ("scanned words", 88.25)})
    with IngestCache(pg_url) as cache:
        assert cache.known_hashes([stat]) == {"/abs/a.py": "bb"}
        assert cache.get_scanned(["k1", "k2", "k3"]) == {
            "k1": Scanned(pages, ((3, "aws-access-key", 1),)),
            "k2": Scanned(Extraction(skip_reason="x"))}
        assert cache.get_outline("ts-1", "sha", "python") == outline
        assert cache.get_outline("ts-2", "sha", "python") is None
        assert cache.get_token_counts("cl100k", [*counts, "unknown"]) == counts
        assert cache.get_clean("r1", ["a", "b", "c", "d"]) == {"a", "b", "c"}
        assert cache.get_counted_by("http://server|m") == "hf:m"
        assert cache.get_ocr(["page-key", "other"]) == {"page-key": ("scanned words", 88.25)}


def test_text_postgresql_cannot_hold_is_not_kept_and_fails_nothing(pg_url: str) -> None:
    with IngestCache(pg_url) as cache:
        cache.put_scanned({"k1": Scanned(Extraction(sections=(Section("a\x00b"),)))})
        assert cache.get_scanned(["k1"]) == {}


def _open_and_write(url: str, worker: int) -> None:
    with IngestCache(url) as cache:
        for batch in range(10):
            cache.put_token_counts("cl100k", {f"w{worker}-{batch}-{i}": i for i in range(100)})


def test_runners_opening_a_fresh_database_at_once_migrate_it_once_and_lose_nothing(
    pg_url: str,
) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_open_and_write, args=(pg_url, n)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    wanted = [f"w{w}-{b}-{i}" for w in range(4) for b in range(10) for i in range(100)]
    with IngestCache(pg_url) as cache:
        assert len(cache.get_token_counts("cl100k", wanted)) == 4000
    import psycopg  # after the fixture, which says what is missing

    with psycopg.connect(pg_url) as conn:
        names = conn.execute("SELECT name FROM longread_ingest.schema_migrations").fetchall()
    assert sorted(name for (name,) in names) == [
        "ingest-0001-tables", "ingest-0002-clean-verdicts", "ingest-0003-counted-by",
        "ingest-0004-no-plaintext", "ingest-0005-ocr-pages", "ingest-0006-vocabularies"]


def test_a_missing_table_after_its_migration_is_a_cache_error(pg_url: str) -> None:
    import psycopg

    IngestCache(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TABLE longread_ingest.outlines")
    with pytest.raises(CacheError, match="lacks the table longread_ingest.outlines"):
        IngestCache(pg_url)
