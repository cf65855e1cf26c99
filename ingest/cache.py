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
from longread.ingest.store import Migration, open_store
from longread.ingest.textfile import Extraction

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# Below SQLite's smallest SQLITE_MAX_VARIABLE_NUMBER (999), whatever the build.
_IN_CHUNK = 900


def _create_tables(conn: Connection) -> None:
    for statement in (
        "CREATE TABLE file_stats (path TEXT PRIMARY KEY, size INTEGER NOT NULL,"
        " mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, sha256 TEXT NOT NULL) WITHOUT ROWID",
        "CREATE TABLE extractions (sha256 TEXT NOT NULL, reader TEXT NOT NULL,"
        " body TEXT, sections TEXT NOT NULL, notes TEXT NOT NULL, skip_reason TEXT,"
        " PRIMARY KEY (sha256, reader))",
        "CREATE TABLE outlines (sha256 TEXT NOT NULL, language TEXT NOT NULL,"
        " outliner TEXT NOT NULL, outline TEXT NOT NULL, PRIMARY KEY (sha256, language, outliner))",
        "CREATE TABLE token_counts (tokenizer TEXT NOT NULL, block_sha256 TEXT NOT NULL,"
        " tokens INTEGER NOT NULL, PRIMARY KEY (tokenizer, block_sha256)) WITHOUT ROWID",
    ):
        conn.exec_driver_sql(statement)


def _create_clean_verdicts(conn: Connection) -> None:
    conn.exec_driver_sql(
        "CREATE TABLE clean_verdicts (redactor TEXT NOT NULL, item TEXT NOT NULL,"
        " PRIMARY KEY (redactor, item))"
    )


def _drop_plaintext(conn: Connection) -> None:
    """Older caches kept every file's plaintext (a skipped .env's too), plaintext outlines of
    `--no-redact` runs, paths and file names: all dropped (overwritten: `secure_delete` is on)."""
    for statement in (
        "DROP TABLE extractions",
        "DELETE FROM clean_verdicts",
        "DELETE FROM outlines",
        "DELETE FROM file_stats",
        "CREATE TABLE scanned (key TEXT PRIMARY KEY, body TEXT, sections TEXT NOT NULL,"
        " notes TEXT NOT NULL, skip_reason TEXT, redactions TEXT NOT NULL)",
    ):
        conn.exec_driver_sql(statement)


MIGRATIONS = (
    Migration("ingest-0001-tables", _create_tables),
    Migration("ingest-0002-clean-verdicts", _create_clean_verdicts),
    Migration("ingest-0004-no-plaintext", _drop_plaintext),
)


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
    """One SQLite file (opened, migrated or repaired by `open_store`) shared by all ingest steps."""

    def __init__(self, path: Path | None) -> None:
        """`path` None: a private in-memory cache (`--no-cache`: nothing read, nothing kept)."""
        self.path = path
        self._store = open_store(path, MIGRATIONS)

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
        self._write("INSERT OR REPLACE INTO file_stats VALUES (?, ?, ?, ?, ?)", rows)

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
        self._write("INSERT OR REPLACE INTO scanned VALUES (?, ?, ?, ?, ?, ?)", rows)

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
        self._write("INSERT OR REPLACE INTO outlines VALUES (?, ?, ?, ?)", rows)

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
        self._write("INSERT OR REPLACE INTO token_counts VALUES (?, ?, ?)", rows)

    def get_clean(self, redactor: str, items: Iterable[str]) -> set[str]:
        """The items (content hash + file name) the secret scan found clean before."""
        query = "SELECT item FROM clean_verdicts WHERE redactor = ? AND item IN ({})"
        return {row[0] for row in self._select_in(query, sorted(set(items)), leading=(redactor,))}

    def put_clean(self, redactor: str, items: Iterable[str]) -> None:
        rows = [(redactor, item) for item in sorted(set(items))]
        self._write("INSERT OR IGNORE INTO clean_verdicts VALUES (?, ?)", rows)

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

    def _write(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        with self._store.write() as conn:
            conn.executemany(statement, rows)


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
    sections = [[s.text, s.page, s.has_text_layer] for s in item.sections]
    return None, json.dumps(sections, ensure_ascii=False), notes, item.skip_reason


def _load_extraction(
    body: str | None, sections: str, notes: str, skip_reason: str | None
) -> Extraction:
    if body is not None:
        loaded: tuple[Section, ...] = (Section(body),)
    else:
        loaded = tuple(Section(text, page, bool(has)) for text, page, has in json.loads(sections))
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
