"""Citations in an answer, parsed and checked against what the model saw: wrong ones are flagged.

Forms understood: `path:line`, `path:start-end`, `path#L10-L20`, `file.pdf#page=N`,
"page N of file.pdf", and the places of ingest/places.py (`report.docx#p=12`, `page.html#install`,
`book.epub#ch=3`, `nb.ipynb#cell=7`, `README.md#install`) — in backticks, brackets or bare.
A citation is checked in this order: the path exists (`unknown-path`), the lines, page or place
exist (`out-of-range`), the pack showed them to the model (`not-shown`: a path-only document, or
lines or pages outside the part or outline it showed), and its quote is there (`quote-not-found`).
Line numbers are `\\n`-based (split_lines), like git's.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Any, Literal

from longread.analysis.jobs.shown import NOTHING_SHOWN, Shown, shown_in
from longread.ingest.document import Document
from longread.ingest.lines import line_number, split_lines
from longread.ingest.pack import Pack
from longread.ingest.places import PLACE_PATTERN, locate, parse_place

Status = Literal["unchecked", "ok", "unknown-path", "out-of-range", "not-shown", "quote-not-found"]
LINE_TOLERANCE = 2
_MIN_QUOTE = 3

_PATH = r"(?P<path>[\w.~@+\-]+(?:/[\w.~@+\-]+)*)"
_PAGE = rf"#(?P<place>{PLACE_PATTERN})"  # `#page=N` and every other place
_LINES = (
    r"#L(?P<start>\d+)(?:-L?(?P<end>\d+))?",
    r":(?P<start>\d+)(?:\s?[-–]\s?(?P<end>\d+))?(?!\d)",
)
_PATTERNS = (
    re.compile(_PATH + _PAGE),
    re.compile(r"\bpages?\s+(?P<page>\d+)\s+(?:of|in)\s+`?(?P<path>[\w.~@+\-/]+\.pdf)\b", re.I),
    *(re.compile(_PATH + lines) for lines in _LINES),
)
_ESCAPES = (("&", "&amp;"), ('"', "&quot;"), ("<", "&lt;"), (">", "&gt;"))  # as render's ids
_QUOTES = re.compile(r"`(?P<tick>[^`\n]+)`|\"(?P<dq>[^\"\n]+)\"|“(?P<curly>[^”\n]+)”")
# A back-ticked name (`Flask.register_blueprint`, `os.path`, `Vec::new`, `run()`) names a symbol;
# it is not text copied from the file, so it is not verified as a quote.
_NAME = re.compile(r"[@$]?[\w$]+(?:(?:\.|::|->|/|#|-)[\w$]+)*(?:\(\))?")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")


@dataclass(frozen=True)
class Citation:
    raw: str
    path: str
    start: int | None = None
    end: int | None = None
    page: int | None = None
    quote: str | None = None
    status: Status = "unchecked"
    place: str | None = None  # a place other than a page: "p=12", "install", "cell=7"
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "raw": self.raw,
            "path": self.path,
            "start": self.start,
            "end": self.end,
            "page": self.page,
            "place": self.place,
            "quote": self.quote,
            "status": self.status,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class _Hit:
    span: tuple[int, int]
    citation: Citation


def parse_citations(text: str, paths: Iterable[str] = ()) -> list[Citation]:
    """Every citation in `text`, in order of appearance, each with the quote that belongs to it.

    `paths` are the corpus ids: one holding what a bare path cannot (spaces, quotes, `<`, `>`,
    a redaction marker's `[` and `:`) is found as written, or as an xml pack's id attribute
    escapes it, whole or from any of its folders down.

    A quote is a double-quoted (or curly-quoted) snippet, or a back-ticked span that is not a bare
    name: `def add(self, text)` and `return 42` are quotes, `Flask.register_blueprint`, `os.path`
    and `run()` are names and are not verified. A quote belongs to the nearest citation in its own
    sentence (sentences end at . ! ? before a space, or at a line break), never to one in another.
    """
    hits = _find_hits(text, _odd_patterns(text, paths))
    quotes = [m for m in _QUOTES.finditer(text) if not _overlaps_any(m.span(), hits)]
    sentence = _sentence_of(text, [hit.span for hit in hits] + [m.span() for m in quotes])
    best: dict[int, tuple[int, str]] = {}
    for match in quotes:
        snippet = _quote_text(match)
        same = [i for i, hit in enumerate(hits) if sentence(hit.span[0]) == sentence(match.start())]
        if snippet is None or not same:
            continue
        owner = min(same, key=lambda i: _distance(hits[i].span, match.span()))
        distance = _distance(hits[owner].span, match.span())
        if owner not in best or distance < best[owner][0]:
            best[owner] = (distance, snippet)
    return [
        replace(hit.citation, quote=best[i][1] if i in best else None) for i, hit in enumerate(hits)
    ]


def _quote_text(match: re.Match[str]) -> str | None:
    """The snippet of a quote match, or None when it is too short or a back-ticked bare name."""
    snippet = next(group for group in match.groups() if group is not None).strip()
    if len(snippet) < _MIN_QUOTE or (match["tick"] is not None and _NAME.fullmatch(snippet)):
        return None
    return snippet


def _sentence_of(text: str, masked: Sequence[tuple[int, int]]) -> Any:
    """A function giving the sentence number of an offset; stops inside `masked` spans (citations,
    quotes: `app.py:3.` or "a. b") do not end a sentence."""
    ends = [
        m.start()
        for m in _SENTENCE_END.finditer(text)
        if not any(start <= m.start() < end for start, end in masked)
    ]
    return lambda offset: bisect.bisect_right(ends, offset)


def _distance(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(a[0] - b[1], b[0] - a[1], 0)


def _odd_patterns(
    text: str, paths: Iterable[str]
) -> tuple[tuple[re.Pattern[str], dict[str, str]], ...]:
    """Citation patterns for the ids a bare path cannot match that `text` names, with each
    written form (whole or a folder-suffix, raw or escaped) mapped to the id it names."""
    forms = {form: path for form, path in _odd_forms(frozenset(paths)).items() if form in text}
    if not forms:
        return ()
    named = "|".join(re.escape(form) for form in sorted(forms, key=lambda f: (-len(f), f)))
    path = rf"(?<![\w.~@+\-/])(?P<path>{named})"
    return tuple((re.compile(path + suffix), forms) for suffix in (_PAGE, *_LINES))


@lru_cache(maxsize=8)
def _odd_forms(paths: frozenset[str]) -> dict[str, str]:
    forms: dict[str, str] = {}
    for path in sorted(p for p in paths if not re.fullmatch(_PATH, p)):
        parts = path.split("/")
        for tail in ("/".join(parts[i:]) for i in range(len(parts))):
            for form in (tail, _escaped(tail)):
                forms.setdefault(form, tail)  # a tail resolves as a unique suffix
    return forms


def _escaped(path: str) -> str:
    for char, entity in _ESCAPES:
        path = path.replace(char, entity)
    return path


def _find_hits(
    text: str, odd: Sequence[tuple[re.Pattern[str], dict[str, str]]] = ()
) -> list[_Hit]:
    """Citations of ids with odd characters first (a bare path would take only their tail)."""
    hits: list[_Hit] = []
    patterns = [*odd, *((pattern, None) for pattern in _PATTERNS)]
    for pattern, forms in patterns:
        for match in pattern.finditer(text):
            if _overlaps_any(match.span(), hits) or _looks_like_url(text, match):
                continue
            citation = _citation_from(match, forms)
            if citation is not None:
                hits.append(_Hit(match.span(), citation))
    return sorted(hits, key=lambda hit: hit.span)


def _citation_from(match: re.Match[str], forms: Mapping[str, str] | None = None) -> Citation | None:
    groups = match.groupdict()
    path = groups["path"].removeprefix("./") if forms is None else forms[groups["path"]]
    if not path or not any(ch.isalpha() for ch in path) or not ("." in path or "/" in path):
        return None
    numbers = {name: line_number(groups[name]) for name in ("page", "start", "end")
               if groups.get(name)}
    place = parse_place(groups["place"]) if groups.get("place") else None
    if None in numbers.values() or (groups.get("place") and place is None):
        return None  # "١٢" is no line number, nor are 5,000 digits
    if place is not None and place.key == "page":
        numbers["page"], place = place.number or 0, None
    page, start = numbers.get("page"), numbers.get("start")
    end = numbers.get("end", start)
    return Citation(raw=match.group(0), path=path, start=start, end=end, page=page,
                    place=place.fragment if place else None)


def _looks_like_url(text: str, match: re.Match[str]) -> bool:
    before = text[max(0, match.start() - 3) : match.start()]
    return before.endswith("://") or "://" in match.group(0) or before.endswith("//")


def _overlaps_any(span: tuple[int, int], hits: Iterable[_Hit]) -> bool:
    return any(span[0] < hit.span[1] and hit.span[0] < span[1] for hit in hits)


class CorpusIndex:
    """The documents read for the pack, by citable path, with their lines and pages; with `shown`
    (see shown_in) a citation must also point at what the pack showed the model."""

    def __init__(
        self, documents: Iterable[Document], shown: Mapping[str, Shown] | None = None
    ) -> None:
        self._documents = {document.path: document for document in documents}
        self._lines: dict[str, list[str]] = {}
        self._shown = shown

    @classmethod
    def of_pack(cls, documents: Iterable[Document], pack: Pack) -> CorpusIndex:
        """The index that checks citations against exactly what `pack` showed."""
        return cls(documents, shown_in(pack))

    @cached_property
    def paths(self) -> frozenset[str]:
        """Every id a citation may name: the documents read, and what the pack listed."""
        return frozenset(self._documents) | frozenset(self._shown or ())

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
            self._lines[path] = split_lines(self._documents[path].text)
        return self._lines[path]

    def pages(self, path: str) -> dict[int, str]:
        sections = self._documents[path].sections
        return {section.page: section.text for section in sections if section.page is not None}

    def shown(self, path: str) -> Shown | None:
        """What the model saw of `path`; None when the index does not track it (all of it)."""
        return None if self._shown is None else self._shown.get(path, NOTHING_SHOWN)

    def listed_unread(self, path: str) -> Shown | None:
        """How the pack listed `path` when it is in the pack's tree but was never read (skipped)."""
        if self._shown is None or path in self._documents:
            return None
        return self._shown.get(path)


def check_citations(answer: str, corpus: CorpusIndex | Mapping[str, Document]) -> list[Citation]:
    """Parse and check every citation of `answer`; each comes back with a status and a detail."""
    index = corpus if isinstance(corpus, CorpusIndex) else CorpusIndex(corpus.values())
    return [check_citation(citation, index) for citation in parse_citations(answer, index.paths)]


def check_citation(citation: Citation, index: CorpusIndex) -> Citation:
    resolved = index.resolve(citation.path)
    skipped = index.listed_unread(citation.path)
    if resolved is None and skipped is not None:
        return replace(citation, status="not-shown", detail=_not_shown(citation, skipped))
    if resolved is None:
        return replace(
            citation, status="unknown-path", detail=f"no file {citation.path!r} in the corpus"
        )
    note = "" if resolved == citation.path else f"resolved to {resolved}; "
    citation = replace(citation, path=resolved)
    probe, problem = _placed(citation, index)
    region, problem = ("", problem) if problem else _region(probe, index)
    if problem:
        return replace(citation, status="out-of-range", detail=note + problem)
    hidden = _not_shown(probe, index.shown(resolved))
    if hidden:
        return replace(citation, status="not-shown", detail=note + hidden)
    if citation.quote and not _contains(region, citation.quote):
        detail = f"{note}quote {citation.quote!r} not found near {_where(probe)}"
        return replace(citation, status="quote-not-found", detail=detail)
    return replace(citation, status="ok", detail=note.rstrip("; "))


def _placed(citation: Citation, index: CorpusIndex) -> tuple[Citation, str]:
    """A place (`#p=12`, `#install`), or a page of what is not a PDF, as the section or lines it
    names (ingest/places.py's `locate`), or why it names nothing."""
    document = index.document(citation.path)
    if citation.place is None and (citation.page is None or document.kind == "pdf"):
        return citation, ""
    place = parse_place(citation.place or f"page={citation.page}")
    located = locate(document, place) if place is not None else "not a place"
    if isinstance(located, str):
        return citation, located
    return replace(citation, page=located.section, start=located.start, end=located.end), ""


def _not_shown(citation: Citation, shown: Shown | None) -> str:
    """Why the model cannot have seen the cited place, or "" when it did."""
    if shown is None:
        return ""
    if shown.lines == () and shown.pages == ():
        return f"the pack showed {citation.path} as {shown.label}, not its text"
    if citation.page is not None:
        seen = shown.covers(citation.page, citation.page, pages=True)
    else:
        seen = shown.covers(citation.start or 1, citation.end or citation.start or 1)
    return "" if seen else f"{_where(citation)} not in what the pack showed ({shown.label})"


def _where(citation: Citation) -> str:
    if citation.place is not None:
        return f"#{citation.place}"
    if citation.page is not None:
        return f"page {citation.page}"
    return f"lines {citation.start}-{citation.end}"


def _region(citation: Citation, index: CorpusIndex) -> tuple[str, str]:
    """The cited text the model saw (± LINE_TOLERANCE lines), or why it does not exist."""
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
    shown = index.shown(citation.path)
    near = range(max(1, start - LINE_TOLERANCE), min(len(lines), end + LINE_TOLERANCE) + 1)
    seen = [lines[n - 1] for n in near if shown is None or shown.covers(n, n)]
    return "\n".join(seen), ""


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def _contains(region: str, quote: str) -> bool:
    """Whitespace- and case-insensitive; an ellipsis in the quote may stand for any omitted text."""
    haystack = _normalise(region)
    pieces = [_normalise(piece) for piece in re.split(r"\.\.\.|…", quote)]
    return all(piece in haystack for piece in pieces if piece)
