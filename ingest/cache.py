"""The ingest cache: what reading, outlining and counting produced, keyed by content hash.

A stat index (hash of the absolute path, size, mtime, inode -> sha256) lets an unchanged file be
recognised by one `stat`; everything else is keyed by content (and reader, redactor, outliner or
tokenizer version). It holds no plaintext secret: extractions are kept as the secret scan left them
(redacted, with where each secret was), a secrets file is never kept, and paths are hashed (a file
name can be a secret). Every bulk call is one statement batch in one transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longread.ingest.document import Outline, Section, Symbol
from longread.ingest.store import Migration, Schema, create_tables, open_store
from longread.ingest.textfile import Extraction

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# Below SQLite's smallest SQLITE_MAX_VARIABLE_NUMBER (999), whatever the build.
_IN_CHUNK = 900


# Each table's columns, in the order `put` writes them, and its key.
TABLES = {
    "file_stats": ("path", "size", "mtime_ns", "inode", "sha256"),
    "scanned": ("key", "body", "sections", "notes", "skip_reason", "redactions"),
    "outlines": ("sha256", "language", "outliner", "outline"),
    "token_counts": ("tokenizer", "block_sha256", "tokens"),
    "clean_verdicts": ("redactor", "item"),
    "counted_by": ("expected", "tokenizer"),
    "ocr_pages": ("key", "text", "confidence"),
    "vocabularies": ("version", "sha256", "words"),
}
KEYS = {
    "file_stats": ("path",),
    "scanned": ("key",),
    "outlines": ("sha256", "language", "outliner"),
    "token_counts": ("tokenizer", "block_sha256"),
    "clean_verdicts": ("redactor", "item"),
    "counted_by": ("expected",),
    "ocr_pages": ("key",),
    "vocabularies": ("version", "sha256"),
}


def _create_tables(conn: Connection) -> None:
    """SQLAlchemy Core DDL, so SQLite and PostgreSQL get the same tables in their own types
    (BIGINT: mtime_ns and inode overflow PostgreSQL's 4-byte INTEGER)."""
    from sqlalchemy import BigInteger, Column, MetaData, Table, Text

    meta = MetaData()
    create_tables(
        conn,
        Table("file_stats", meta, Column("path", Text, primary_key=True),
              Column("size", BigInteger, nullable=False),
              Column("mtime_ns", BigInteger, nullable=False),
              Column("inode", BigInteger, nullable=False),
              Column("sha256", Text, nullable=False), sqlite_with_rowid=False),
        Table("extractions", meta, Column("sha256", Text, primary_key=True),
              Column("reader", Text, primary_key=True), Column("body", Text),
              Column("sections", Text, nullable=False), Column("notes", Text, nullable=False),
              Column("skip_reason", Text)),
        Table("outlines", meta, Column("sha256", Text, primary_key=True),
              Column("language", Text, primary_key=True),
              Column("outliner", Text, primary_key=True), Column("outline", Text, nullable=False)),
        Table("token_counts", meta, Column("tokenizer", Text, primary_key=True),
              Column("block_sha256", Text, primary_key=True),
              Column("tokens", BigInteger, nullable=False), sqlite_with_rowid=False),
    )


def _create_clean_verdicts(conn: Connection) -> None:
    from sqlalchemy import Column, MetaData, Table, Text

    create_tables(conn, Table("clean_verdicts", MetaData(),
                              Column("redactor", Text, primary_key=True),
                              Column("item", Text, primary_key=True)))


def _create_counted_by(conn: Connection) -> None:
    from sqlalchemy import Column, MetaData, Table, Text

    create_tables(conn, Table("counted_by", MetaData(), Column("expected", Text, primary_key=True),
                              Column("tokenizer", Text, nullable=False), sqlite_with_rowid=False))


def _drop_plaintext(conn: Connection) -> None:
    """Older caches kept every file's plaintext (a skipped .env's too), plaintext outlines of
    `--no-redact` runs, paths and file names: all dropped (on SQLite overwritten too, as
    `secure_delete` is on)."""
    from sqlalchemy import Column, MetaData, Table, Text

    for statement in ("DROP TABLE extractions", "DELETE FROM clean_verdicts",
                      "DELETE FROM outlines", "DELETE FROM file_stats"):
        conn.exec_driver_sql(statement)
    create_tables(conn, Table("scanned", MetaData(), Column("key", Text, primary_key=True),
                              Column("body", Text), Column("sections", Text, nullable=False),
                              Column("notes", Text, nullable=False), Column("skip_reason", Text),
                              Column("redactions", Text, nullable=False)))


def _create_ocr_pages(conn: Connection) -> None:
    """OCR text by page: the key (ingest/ocr.py `page_key`) hashes the pixels and the engine."""
    from sqlalchemy import Column, Float, MetaData, Table, Text

    create_tables(conn, Table("ocr_pages", MetaData(), Column("key", Text, primary_key=True),
                              Column("text", Text, nullable=False),
                              Column("confidence", Float, nullable=False), sqlite_with_rowid=False))


def _create_vocabularies(conn: Connection) -> None:
    """The distinct words of a text (ingest/vocabulary.py), by the sha256 of the text."""
    from sqlalchemy import Column, MetaData, Table, Text

    create_tables(conn, Table("vocabularies", MetaData(), Column("version", Text, primary_key=True),
                              Column("sha256", Text, primary_key=True),
                              Column("words", Text, nullable=False), sqlite_with_rowid=False))


MIGRATIONS = (
    Migration("ingest-0001-tables", _create_tables),
    Migration("ingest-0002-clean-verdicts", _create_clean_verdicts),
    Migration("ingest-0003-counted-by", _create_counted_by),
    Migration("ingest-0004-no-plaintext", _drop_plaintext),
    Migration("ingest-0005-ocr-pages", _create_ocr_pages),
    Migration("ingest-0006-vocabularies", _create_vocabularies),
)
SCHEMA = Schema("ingest", TABLES, MIGRATIONS)


@dataclass(frozen=True)
class Scanned:
    """One file as the secret scan left it: its extraction (redacted) and where each secret was,
    as (line, kind, page). No secret found: the extraction is the file's text as read."""

    extraction: Extraction
    secrets: tuple[tuple[int, str, int | None], ...] = ()


@dataclass(frozen=True)
class FileStat:
    """What one `stat` says about a file; equal stats mean the content hash can be reused."""

    path: str  # absolute, so the index does not depend on which root the file was reached from
    size: int
    mtime_ns: int
    inode: int


class IngestCache:
    """One database (a SQLite file or a PostgreSQL URL, opened, migrated or repaired by
    `open_store`) shared by all ingest steps."""

    def __init__(self, where: Path | str | None) -> None:
        """`where` None: a private in-memory cache (`--no-cache`: nothing read, nothing kept)."""
        self.where = where
        self._store = open_store(where, SCHEMA)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> IngestCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def known_hashes(self, stats: Sequence[FileStat]) -> dict[str, str]:
        """path -> sha256 for the files whose stat is unchanged since their hash was stored."""
        wanted = {path_key(stat.path): stat for stat in stats}
        query = "SELECT path, size, mtime_ns, inode, sha256 FROM file_stats WHERE path IN ({})"
        found: dict[str, str] = {}
        for key, size, mtime_ns, inode, sha256 in self._select_in(query, list(wanted)):
            stat = wanted[key]
            if (stat.size, stat.mtime_ns, stat.inode) == (size, mtime_ns, inode):
                found[stat.path] = sha256
        return found

    def put_hashes(self, hashes: Mapping[FileStat, str]) -> None:
        rows = [(path_key(s.path), s.size, s.mtime_ns, s.inode, sha) for s, sha in hashes.items()]
        self._put("file_stats", rows)

    def get_scanned(self, keys: Iterable[str]) -> dict[str, Scanned]:
        """key (see `scan_key`) -> that file as the secret scan left it, skip verdicts included."""
        query = (
            "SELECT key, body, sections, notes, skip_reason, redactions FROM scanned"
            " WHERE key IN ({})"
        )
        return {
            key: Scanned(_load_extraction(*stored), _load_secrets(secrets))
            for key, *stored, secrets in self._select_in(query, sorted(set(keys)))
        }

    def put_scanned(self, scanned: Mapping[str, Scanned]) -> None:
        rows = [(key, *_dump_extraction(item.extraction), _dump_secrets(item.secrets))
                for key, item in scanned.items()]
        self._put("scanned", rows)

    def get_outlines(
        self, outliner: str, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Outline]:
        """(sha256, language) -> the outline `outliner` (a name with its version) made of it."""
        wanted = set(keys)
        query = "SELECT sha256, language, outliner, outline FROM outlines WHERE sha256 IN ({})"
        return {
            (sha256, language): _load_outline(outline)
            for sha256, language, stored_by, outline in self._select_in(
                query, sorted({sha for sha, _ in wanted})
            )
            if stored_by == outliner and (sha256, language) in wanted
        }

    def put_outlines(self, outliner: str, outlines: Mapping[tuple[str, str], Outline]) -> None:
        rows = [(sha, lang, outliner, _dump_outline(o)) for (sha, lang), o in outlines.items()]
        self._put("outlines", rows)

    def get_outline(self, outliner: str, sha256: str, language: str) -> Outline | None:
        return self.get_outlines(outliner, [(sha256, language)]).get((sha256, language))

    def put_outline(self, outliner: str, sha256: str, language: str, outline: Outline) -> None:
        self.put_outlines(outliner, {(sha256, language): outline})

    def get_token_counts(self, tokenizer: str, hashes: Iterable[str]) -> dict[str, int]:
        """block sha256 -> token count with `tokenizer`, for the blocks counted before."""
        query = (
            "SELECT block_sha256, tokens FROM token_counts"
            " WHERE tokenizer = ? AND block_sha256 IN ({})"
        )
        return dict(self._select_in(query, sorted(set(hashes)), leading=(tokenizer,)))

    def put_token_counts(self, tokenizer: str, counts: Mapping[str, int]) -> None:
        rows = [(tokenizer, sha, tokens) for sha, tokens in counts.items()]
        self._put("token_counts", rows)

    def get_counted_by(self, expected: str) -> str | None:
        """The tokenizer a lazily named counter (a server's) last turned out to be, if any."""
        found = self._store.rows("SELECT tokenizer FROM counted_by WHERE expected = ?", (expected,))
        return str(found[0][0]) if found else None

    def put_counted_by(self, expected: str, tokenizer: str) -> None:
        self._put("counted_by", [(expected, tokenizer)])

    def get_ocr(self, keys: Iterable[str]) -> dict[str, tuple[str, float]]:
        """page key -> (text, mean confidence) of the pages read by OCR before."""
        query = "SELECT key, text, confidence FROM ocr_pages WHERE key IN ({})"
        return {key: (text, float(conf))
                for key, text, conf in self._select_in(query, sorted(set(keys)))}

    def put_ocr(self, pages: Mapping[str, tuple[str, float]]) -> None:
        self._put("ocr_pages", [(key, text, conf) for key, (text, conf) in pages.items()])

    def get_vocabularies(self, version: str, hashes: Iterable[str]) -> dict[str, str]:
        """text sha256 -> its vocabulary as `version` made it, for the texts seen before."""
        query = "SELECT sha256, words FROM vocabularies WHERE version = ? AND sha256 IN ({})"
        return dict(self._select_in(query, sorted(set(hashes)), leading=(version,)))

    def put_vocabularies(self, version: str, vocabularies: Mapping[str, str]) -> None:
        self._put("vocabularies", [(version, sha, words) for sha, words in vocabularies.items()])

    def get_clean(self, redactor: str, items: Iterable[str]) -> set[str]:
        """The items (content hash + file name) the secret scan found clean before."""
        query = "SELECT item FROM clean_verdicts WHERE redactor = ? AND item IN ({})"
        return {row[0] for row in self._select_in(query, sorted(set(items)), leading=(redactor,))}

    def put_clean(self, redactor: str, items: Iterable[str]) -> None:
        rows = [(redactor, item) for item in sorted(set(items))]
        self._put("clean_verdicts", rows, replace=False)

    def _select_in(
        self, query: str, values: list[str], *, leading: tuple[str, ...] = ()
    ) -> Iterator[tuple[Any, ...]]:
        """Run `query` with its `IN ({})` filled chunk by chunk, under SQLite's variable limit."""
        if not values:
            return
        for start in range(0, len(values), _IN_CHUNK):
            chunk = values[start:start + _IN_CHUNK]
            statement = query.format(", ".join("?" * len(chunk)))
            yield from self._store.rows(statement, (*leading, *chunk))

    def _put(self, table: str, rows: list[tuple[Any, ...]], *, replace: bool = True) -> None:
        """Insert or replace (or, replace=False, keep the stored row), all in one transaction."""
        self._store.put(table, TABLES[table], rows, keys=KEYS[table], replace=replace)

    def size(self) -> int:
        """Bytes the cache takes (the file with its WAL, or the PostgreSQL tables)."""
        return self._store.size()

    def clear(self) -> None:
        """Delete every row of every table (the schema and its migrations stay)."""
        for table in TABLES:
            self._store.delete_all(table)


def path_key(path: str) -> str:
    """What the stat index files a path under: its hash (a file name can be a secret)."""
    return hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()


def scan_key(sha256: str, reader: str, redactor: str, name: str) -> str:
    """Everything the scanned text is a function of: the bytes, the reader that made text of
    them, the redactor's version, and the file name (detectors differ by file type); hashed."""
    parts = "\0".join((sha256, reader, redactor, name))
    return hashlib.sha256(parts.encode("utf-8", "surrogateescape")).hexdigest()


def _dump_secrets(secrets: tuple[tuple[int, str, int | None], ...]) -> str:
    return json.dumps([list(found) for found in secrets], ensure_ascii=False) if secrets else "[]"


def _load_secrets(stored: str) -> tuple[tuple[int, str, int | None], ...]:
    if stored == "[]":
        return ()
    return tuple((line, kind, page) for line, kind, page in json.loads(stored))


def _dump_extraction(item: Extraction) -> tuple[str | None, str, str, str | None]:
    """A text file's one section goes in `body` as is: no JSON to decode on the warm path."""
    notes = json.dumps(list(item.notes), ensure_ascii=False)
    if len(item.sections) == 1 and item.sections[0] == Section(item.sections[0].text):
        return item.sections[0].text, "[]", notes, item.skip_reason
    sections = [_trimmed([s.text, s.page, s.has_text_layer, s.ocr_confidence, s.place])
                for s in item.sections]
    return None, json.dumps(sections, ensure_ascii=False), notes, item.skip_reason


def _trimmed(fields: list[object]) -> list[object]:
    """A section's fields without the trailing unset ones (most sections are text and a page)."""
    while len(fields) > 3 and fields[-1] is None:
        fields.pop()
    return fields


def _load_extraction(
    body: str | None, sections: str, notes: str, skip_reason: str | None
) -> Extraction:
    if body is not None:
        loaded: tuple[Section, ...] = (Section(body),)
    else:
        loaded = tuple(Section(fields[0], fields[1], bool(fields[2]), *fields[3:])
                       for fields in json.loads(sections))
    return Extraction(
        sections=loaded,
        notes=() if notes == "[]" else tuple(json.loads(notes)),
        skip_reason=skip_reason,
    )


def _dump_outline(outline: Outline) -> str:
    symbols = [[s.name, s.kind, s.line, s.end_line, s.signature] for s in outline.symbols]
    return json.dumps(
        {"language": outline.language, "symbols": symbols,
         "definitions": list(outline.definitions), "references": list(outline.references)},
        ensure_ascii=False,
    )


def _load_outline(stored: str) -> Outline:
    data = json.loads(stored)
    return Outline(
        language=data["language"],
        symbols=tuple(Symbol(*fields) for fields in data["symbols"]),
        definitions=tuple(data["definitions"]),
        references=tuple(data["references"]),
    )
