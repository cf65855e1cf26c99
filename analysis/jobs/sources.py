"""Corpus documents read back as the pack shows them, so a citation can be opened
(`api.read_source`, `longread serve`'s /api/source, MCP `read`).

A `CorpusSource` keeps one corpus read and redacted (the one pipeline: `read_documents`) between
requests, for as long as discovery finds the same files with the same stats (path, size, mtime,
inode: what the ingest cache trusts too). Discovery runs on every request, so a changed, added,
removed or newly ignored file is seen at once; only the read and the secret scan are skipped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from longread.ingest.corpus_spec import CorpusSpec
from longread.ingest.errors import UsageError
from longread.ingest.lines import split_lines

if TYPE_CHECKING:
    from longread.analysis.config import Settings
    from longread.ingest.discover import Discovery
    from longread.ingest.document import Document
    from longread.ingest.redact_corpus import RedactedCorpus


MAX_LINES = 500  # lines one read gives at most over HTTP (/api/source) and MCP (`read`)


class NotInCorpus(UsageError):
    """`read_source` was asked for something that is not a document of the corpus (exit 2)."""


@dataclass(frozen=True)
class SourceLines:
    """Lines of one corpus document (of one page, for a PDF), numbered as citations number them."""

    path: str
    kind: str  # code | text | pdf
    start: int  # first line shown (1-based); 0 when the document or page is empty
    end: int  # last line shown
    total: int  # lines in the document (in the page, for a PDF)
    lines: tuple[str, ...]
    page: int | None = None
    pages: int | None = None  # a PDF's page count (the places of a docx, web page, ...)
    place: str | None = None  # the place read ("p=12", "install"; ingest/places.py)

    @property
    def next_start(self) -> int | None:
        """Where the next range starts when lines are left after this one (a capped read)."""
        return self.end + 1 if self.end < self.total else None

    def to_text(self) -> str:
        """`N<TAB>line` per line, as the pack numbers lines (what `path:N` points at)."""
        return "".join(f"{n}\t{line}\n" for n, line in enumerate(self.lines, self.start))

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "page": self.page, "pages": self.pages,
                "place": self.place, "start": self.start, "end": self.end, "total": self.total,
                "next": self.next_start, "lines": list(self.lines)}


class CorpusSource:
    """The documents of one corpus as the pack shows them (read through the ingest cache,
    secrets kept out unless settings say not), kept while the corpus's files are unchanged."""

    def __init__(self, corpus: CorpusSpec, *, settings: Settings) -> None:
        self.corpus, self.settings = corpus, settings
        self._lock = threading.Lock()
        self._kept: tuple[Discovery, _Indexed] | None = None

    def read(self, path: str, start_line: int | None = None, end_line: int | None = None,
             page: int | None = None, *, limit: int | None = None,
             place: str | None = None) -> SourceLines:
        """Lines `start_line`..`end_line` of the document `path` (a PDF: of its page `page`; of
        its `place`, as a citation writes it after "#"), at most `limit` of them (`next_start`
        says where the rest begins); NotInCorpus for anything not a document of the corpus."""
        document = self._document(_citable(path))
        if place is not None:
            text, pages, (start_line, end_line) = _place_text(document, place, page,
                                                              (start_line, end_line))
        else:
            text, pages = _page_text(document, page)
        lines = split_lines(text)
        first, last = _line_range(document.path, len(lines), start_line, end_line)
        if limit is not None and first > 0:
            last = min(last, first + limit - 1)
        return SourceLines(document.path, document.kind, first, last, len(lines),
                           tuple(lines[first - 1:last]) if lines else (), page, pages, place)

    def _document(self, path: str) -> Document:
        indexed = self._current()
        if path in indexed.documents:
            return indexed.documents[path]
        if path in indexed.skipped:
            raise NotInCorpus(f"{path} is not shown: {indexed.skipped[path]}")
        raise NotInCorpus(f"{path} is not a document of the corpus")

    def _current(self) -> _Indexed:
        """The corpus as read when discovery last found exactly these files and stats; read
        again when anything differs. Discovery comes first, so a file that changes during the
        read makes the next request read again."""
        from longread.ingest.discover import discover

        with self._lock:
            found = discover(self.corpus)
            if self._kept is None or self._kept[0] != found:
                self._kept = (found, _Indexed.of(self._read()))
            return self._kept[1]

    def _read(self) -> RedactedCorpus:
        from longread.analysis.jobs.pack import read_documents
        from longread.ingest.cache import IngestCache

        with IngestCache(self.settings.ingest_cache) as cache:
            return read_documents(self.settings, self.corpus, cache=cache)


@dataclass(frozen=True)
class _Indexed:
    """A read corpus by id: its documents, and the reason each skipped one is not shown."""

    documents: dict[str, Document]
    skipped: dict[str, str]

    @classmethod
    def of(cls, scrubbed: RedactedCorpus) -> _Indexed:
        reasons: dict[str, str] = {}
        for skip in scrubbed.skipped:
            reasons.setdefault(skip.path, skip.reason)
        return cls({document.path: document for document in scrubbed.documents}, reasons)


def _citable(path: str) -> str:
    """`path` as a corpus id, refused early when it could only point outside the corpus."""
    cleaned = path.strip().removeprefix("./")
    parts = PurePosixPath(cleaned).parts
    if not cleaned or cleaned.startswith(("/", "\\", "~")):
        raise NotInCorpus(f"{path!r} is not a path inside the corpus (give it relative, as cited)")
    if ".." in parts or "\\" in cleaned:
        raise NotInCorpus(f"{path!r} is not a document of the corpus ('..' and '\\' are refused)")
    return cleaned


def _page_text(document: Document, page: int | None) -> tuple[str, int | None]:
    """The text to number: a PDF's page `page` (required), any other document's whole text."""
    if document.kind != "pdf":
        if page is not None:
            raise UsageError(f"{document.path} is not a PDF: give lines or a place, not a page")
        return document.text, None
    numbers = [section.page or n for n, section in enumerate(document.sections, 1)]
    if page not in numbers:
        raise UsageError(f"{document.path} is a PDF of {len(numbers)} pages: give a page "
                         f"from 1 to {len(numbers)}")
    return document.sections[numbers.index(page)].text, len(numbers)


def _place_text(
    document: Document, place: str, page: int | None, lines: tuple[int | None, int | None]
) -> tuple[str, int | None, tuple[int | None, int | None]]:
    """The text a place names (ingest/places.py's `locate`, as the checker uses it): a section's
    own, or a Markdown file's whole text with the heading's lines as the default range."""
    from longread.ingest.places import locate, parse_place

    if page is not None:
        raise UsageError("give a page or a place, not both")
    parsed = parse_place(place) if isinstance(place, str) else None
    shown = repr(place) if len(repr(place)) <= 80 else repr(place)[:77] + "..."  # one short line
    located = locate(document, parsed) if parsed else f"{shown} is not a place (see #p=N, #ch=N)"
    if isinstance(located, str):
        raise UsageError(located)
    if located.section is None:
        start, end = lines
        return document.text, None, (located.start if start is None else start,
                                     located.end if start is None and end is None else end)
    return located.text, len(document.sections), lines


def _line_range(path: str, total: int, start: int | None, end: int | None) -> tuple[int, int]:
    """1-based inclusive bounds; an end past the last line stops at it, as `sed -n` does."""
    first = 1 if start is None else start
    last = total if end is None else min(end, total)
    if total == 0 and start in (None, 1):
        return 0, 0
    if first < 1 or first > total or last < first:
        raise UsageError(f"{path} has {total} lines: lines {first}-{end or total} are not in it")
    return first, last
