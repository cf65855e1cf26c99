"""Citations in an answer, parsed and checked against the corpus: wrong ones are flagged, not kept.

Forms understood: `path:line`, `path:start-end`, `path#L10-L20`, `file.pdf#page=N` and
"page N of file.pdf" — in backticks, brackets or bare. A quote next to a citation (a backtick or
double-quoted snippet on the same line) must occur at the cited place, give or take a few lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from longread.ingest.document import Document

Status = Literal["unchecked", "ok", "unknown-path", "out-of-range", "quote-not-found"]
LINE_TOLERANCE = 2
_MIN_QUOTE = 3

_PATH = r"(?P<path>[\w.~@+\-]+(?:/[\w.~@+\-]+)*)"
_PATTERNS = (
    re.compile(_PATH + r"#page=(?P<page>\d+)"),
    re.compile(r"\bpages?\s+(?P<page>\d+)\s+(?:of|in)\s+`?(?P<path>[\w.~@+\-/]+\.pdf)\b", re.I),
    re.compile(_PATH + r"#L(?P<start>\d+)(?:-L?(?P<end>\d+))?"),
    re.compile(_PATH + r":(?P<start>\d+)(?:\s?[-–]\s?(?P<end>\d+))?(?!\d)"),
)
_QUOTES = re.compile(r"`(?P<tick>[^`\n]+)`|\"(?P<dq>[^\"\n]+)\"|“(?P<curly>[^”\n]+)”")


@dataclass(frozen=True)
class Citation:
    raw: str
    path: str
    start: int | None = None
    end: int | None = None
    page: int | None = None
    quote: str | None = None
    status: Status = "unchecked"
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "raw": self.raw,
            "path": self.path,
            "start": self.start,
            "end": self.end,
            "page": self.page,
            "quote": self.quote,
            "status": self.status,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class _Hit:
    span: tuple[int, int]
    citation: Citation


def parse_citations(text: str) -> list[Citation]:
    """Every citation in `text`, in order of appearance, each with the quote next to it (if any)."""
    hits = _find_hits(text)
    quotes = [match for match in _QUOTES.finditer(text) if not _overlaps_any(match.span(), hits)]
    return [replace(hit.citation, quote=_nearest_quote(text, hit.span, quotes)) for hit in hits]


def _find_hits(text: str) -> list[_Hit]:
    hits: list[_Hit] = []
    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            if _overlaps_any(match.span(), hits) or _looks_like_url(text, match):
                continue
            citation = _citation_from(match)
            if citation is not None:
                hits.append(_Hit(match.span(), citation))
    return sorted(hits, key=lambda hit: hit.span)


def _citation_from(match: re.Match[str]) -> Citation | None:
    groups = match.groupdict()
    path = groups["path"].removeprefix("./")
    if not path or not any(ch.isalpha() for ch in path) or not ("." in path or "/" in path):
        return None
    page = int(groups["page"]) if groups.get("page") else None
    start = int(groups["start"]) if groups.get("start") else None
    end = int(groups["end"]) if groups.get("end") else start
    return Citation(raw=match.group(0), path=path, start=start, end=end, page=page)


def _looks_like_url(text: str, match: re.Match[str]) -> bool:
    before = text[max(0, match.start() - 3) : match.start()]
    return before.endswith("://") or "://" in match.group(0) or before.endswith("//")


def _overlaps_any(span: tuple[int, int], hits: Iterable[_Hit]) -> bool:
    return any(span[0] < hit.span[1] and hit.span[0] < span[1] for hit in hits)


def _nearest_quote(text: str, span: tuple[int, int], quotes: list[re.Match[str]]) -> str | None:
    """The closest quoted snippet on the same line as the citation, if any."""
    line_start = text.rfind("\n", 0, span[0]) + 1
    line_end = text.find("\n", span[1])
    line_end = len(text) if line_end < 0 else line_end
    best: tuple[int, str] | None = None
    for match in quotes:
        if match.start() < line_start or match.end() > line_end:
            continue
        snippet = next(group for group in match.groups() if group is not None).strip()
        if len(snippet) < _MIN_QUOTE:
            continue
        distance = max(span[0] - match.end(), match.start() - span[1], 0)
        if best is None or distance < best[0]:
            best = (distance, snippet)
    return best[1] if best else None


class CorpusIndex:
    """The documents read for the pack, by citable path, with their lines and pages."""

    def __init__(self, documents: Iterable[Document]) -> None:
        self._documents = {document.path: document for document in documents}
        self._lines: dict[str, list[str]] = {}

    def resolve(self, path: str) -> str | None:
        """The corpus path `path` names: exact, or the one path it is a unique suffix of."""
        if path in self._documents:
            return path
        matches = [known for known in self._documents if known.endswith("/" + path)]
        return matches[0] if len(matches) == 1 else None

    def document(self, path: str) -> Document:
        return self._documents[path]

    def lines(self, path: str) -> list[str]:
        if path not in self._lines:
            self._lines[path] = self._documents[path].text.splitlines()
        return self._lines[path]

    def pages(self, path: str) -> dict[int, str]:
        sections = self._documents[path].sections
        return {section.page: section.text for section in sections if section.page is not None}


def check_citations(answer: str, corpus: CorpusIndex | Mapping[str, Document]) -> list[Citation]:
    """Parse and check every citation of `answer`; each comes back with a status and a detail."""
    index = corpus if isinstance(corpus, CorpusIndex) else CorpusIndex(corpus.values())
    return [check_citation(citation, index) for citation in parse_citations(answer)]


def check_citation(citation: Citation, index: CorpusIndex) -> Citation:
    resolved = index.resolve(citation.path)
    if resolved is None:
        return replace(
            citation, status="unknown-path", detail=f"no file {citation.path!r} in the corpus"
        )
    note = "" if resolved == citation.path else f"resolved to {resolved}; "
    citation = replace(citation, path=resolved)
    region, problem = _region(citation, index)
    if problem:
        return replace(citation, status="out-of-range", detail=note + problem)
    if citation.quote and not _contains(region, citation.quote):
        where = (
            f"page {citation.page}" if citation.page else f"lines {citation.start}-{citation.end}"
        )
        detail = f"{note}quote {citation.quote!r} not found near {where}"
        return replace(citation, status="quote-not-found", detail=detail)
    return replace(citation, status="ok", detail=note.rstrip("; "))


def _region(citation: Citation, index: CorpusIndex) -> tuple[str, str]:
    """The cited text (with tolerance around line ranges), or a reason it does not exist."""
    if citation.page is not None:
        pages = index.pages(citation.path)
        if citation.page not in pages:
            count = len(pages)
            return "", f"page {citation.page} does not exist ({citation.path} has {count} pages)"
        return pages[citation.page], ""
    lines = index.lines(citation.path)
    start, end = citation.start or 1, citation.end or citation.start or 1
    if start < 1 or end < start or end > len(lines):
        return "", f"lines {start}-{end} outside {citation.path} ({len(lines)} lines)"
    low, high = max(0, start - 1 - LINE_TOLERANCE), min(len(lines), end + LINE_TOLERANCE)
    return "\n".join(lines[low:high]), ""


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def _contains(region: str, quote: str) -> bool:
    """Whitespace- and case-insensitive; an ellipsis in the quote may stand for any omitted text."""
    haystack = _normalise(region)
    pieces = [_normalise(piece) for piece in re.split(r"\.\.\.|…", quote)]
    return all(piece in haystack for piece in pieces if piece)
