"""Secrets never reach a model: find them and overwrite them in place, so line numbers stay
citable and the report names only where and what kind, never the value. This module redacts one
text, document or list of paths; ingest/redact_corpus.py runs it over a corpus as it is read. What
a secret looks like is `secret_patterns.py`; files that are secrets as a whole are
`secret_files.py`.

The scan is two-tiered for speed: one combined prefilter regex runs over the whole text, and only
the lines it hits go through the (slow, per-line) detectors. Every occurrence of a found value is
redacted, even on lines no detector flagged, so a password repeated in a comment does not leak.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from longread.ingest.document import Document, Section, Symbol
from longread.ingest.secret_patterns import DOC_ANCHORS, UNANCHORED, line_values, looks_random

REDACTOR_VERSION = "redact-2"  # bump when detection changes: cached clean verdicts expire
_MIN_REPEAT = 8  # values shorter than this are not hunted down elsewhere in the text


@dataclass(frozen=True)
class Redaction:
    """One secret removed from the pack: where it was (1-based line, within `page` for a PDF)."""

    path: str
    line: int
    kind: str
    page: int | None = None


@dataclass(frozen=True, order=True)
class _Span:
    start: int
    end: int
    kind: str


def marker(kind: str) -> str:
    """The text a secret of `kind` is replaced with, e.g. `[REDACTED:aws-access-key]`."""
    return f"[REDACTED:{re.sub(r'[^a-z0-9]+', '-', kind.lower()).strip('-')}]"


# --- finding spans -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _anchors() -> Any:
    """An Aho-Corasick automaton of the anchors: one pass over a text finds them all (a `find`
    per anchor was half of a cold run's scan)."""
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for anchor in DOC_ANCHORS:
        automaton.add_word(anchor.decode("latin-1"), len(anchor))
    automaton.make_automaton()
    return automaton


def _candidate_starts(raw: bytes) -> list[int]:
    """Byte offsets of the lines of `raw` that hold an anchor or an UNANCHORED shape, sorted."""
    lowered = raw.lower().decode("latin-1")  # one character per byte: offsets stay byte offsets
    starts = {lowered.rfind("\n", 0, end + 1 - size) + 1 for end, size in _anchors().iter(lowered)}
    for shape in UNANCHORED:
        starts.update(raw.rfind(b"\n", 0, m.start()) + 1 for m in shape.finditer(raw))
    return sorted(starts)


def _candidate_lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line) for each line of `text` worth a full scan, in order."""
    raw = text.encode("utf-8", "surrogatepass")
    ascii_only = len(raw) == len(text)
    offset, previous = 0, 0
    for start in _candidate_starts(raw):
        offset = (
            start
            if ascii_only
            else offset + len(raw[previous:start].decode("utf-8", "surrogatepass"))
        )
        previous = start
        end = text.find("\n", offset)
        yield offset, text[offset : len(text) if end < 0 else end]


# Private-key blocks span lines, so they are found over the whole text, not per line.
_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----"
    r"(?:(?!-----BEGIN ).){0,100000}?-----END (?P=label)-----",
    re.S,
)
_PEM_UNTERMINATED = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?P<body>(?:[\sA-Za-z0-9+/=]|\\n){32,})"
)
_PUTTY_BLOCK = re.compile(r"PuTTY-User-Key-File-\d:.{0,20000}?Private-MAC:[^\n]*", re.S)


def _block_spans(text: str) -> Iterator[_Span]:
    """Whole private-key blocks, which span lines and so escape any per-line detector."""
    if "PRIVATE KEY" in text:
        yield from (_Span(m.start(), m.end(), "Private Key") for m in _PEM_BLOCK.finditer(text))
        for match in _PEM_UNTERMINATED.finditer(text):
            yield _Span(match.start(), match.end("body"), "Private Key")
    if "PuTTY-User-Key-File" in text:
        yield from (_Span(m.start(), m.end(), "Private Key") for m in _PUTTY_BLOCK.finditer(text))


def _occurrences(haystack: str, value: str) -> Iterator[int]:
    index = haystack.find(value)
    while index >= 0:
        yield index
        index = haystack.find(value, index + len(value))


def _find_spans(text: str, path: str) -> list[_Span]:
    """Every secret in `text` as a character span, including repeats of a found value elsewhere."""
    spans = list(_block_spans(text))
    repeated: dict[str, str] = {}
    for offset, line in _candidate_lines(text):
        for kind, value in line_values(line, path):
            spans += [
                _Span(offset + i, offset + i + len(value), kind) for i in _occurrences(line, value)
            ]
            if len(value) >= _MIN_REPEAT and looks_random(value):
                repeated.setdefault(value, kind)
    for value, kind in repeated.items():
        spans += [_Span(i, i + len(value), kind) for i in _occurrences(text, value)]
    return _merge(spans)


def _merge(spans: list[_Span]) -> list[_Span]:
    """Overlapping spans become one, named after the earliest (then longest) of them."""
    merged: list[_Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = _Span(last.start, max(last.end, span.end), last.kind)
        else:
            merged.append(span)
    return merged


# --- rewriting ----------------------------------------------------------------------------------

_LINE_BREAK = re.compile(r"(\r?\n)")  # the breaks ingest/lines.py counts


def _replace(text: str, spans: list[_Span]) -> str:
    """`text` with each span overwritten by its marker; line breaks inside a span are kept."""
    pieces: list[str] = []
    cursor = 0
    for span in spans:
        pieces.append(text[cursor : span.start])
        for part in _LINE_BREAK.split(text[span.start : span.end]):
            pieces.append(part if not part or _LINE_BREAK.fullmatch(part) else marker(span.kind))
        cursor = span.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def redact_text(
    text: str, *, path: str, page: int | None = None
) -> tuple[str, tuple[Redaction, ...]]:
    """`text` with every secret found replaced by a marker, and where each one was."""
    spans = _find_spans(text, path)
    if not spans:
        return text, ()
    redactions = tuple(
        Redaction(path=path, line=text.count("\n", 0, span.start) + 1, kind=span.kind, page=page)
        for span in spans
    )
    return _replace(text, spans), redactions


def redact_paths(paths: Sequence[str], clean: Collection[str] = ()) -> dict[str, str]:
    """Each path's citable id: the path itself, or, when a file or folder name holds a secret,
    the path with it replaced by its marker (then a `~N` suffix when two names redact alike), so
    a key used as a name reaches no tree, id, manifest or token map. One scan over all names but
    those in `clean` (known to hold none)."""
    todo = [path for path in paths if path not in clean]
    joined = "\n".join(todo)  # ids hold no line break (discover escapes control characters)
    found = redact_text(joined, path="")[0].split("\n") if todo else []
    shown = {path: path for path in paths} | dict(zip(todo, found, strict=True))
    taken = {path for path, display in shown.items() if display == path}
    for path in sorted(path for path, display in shown.items() if display != path):
        display, n = shown[path], 2
        while display in taken:
            display, n = f"{shown[path]}~{n}", n + 1
        shown[path] = display
        taken.add(display)
    return shown


def _redact_section(path: str, section: Section) -> tuple[Section, tuple[Redaction, ...]]:
    text, found = redact_text(section.text, path=path, page=section.page)
    return (dataclasses.replace(section, text=text) if found else section), found


def _redact_symbol(path: str, symbol: Symbol) -> Symbol:
    """Signatures reach the pack at outline fidelity; their secrets are already reported."""
    signature, found = redact_text(symbol.signature, path=path)
    return dataclasses.replace(symbol, signature=signature) if found else symbol


def redact_document(doc: Document) -> tuple[Document, tuple[Redaction, ...]]:
    """`doc` with its sections and outline redacted; `sha256` still names the source file."""
    results = [_redact_section(doc.path, section) for section in doc.sections]
    redactions = tuple(r for _, found in results for r in found)
    outline = doc.outline
    if outline is not None and outline.symbols:
        symbols = tuple(_redact_symbol(doc.path, symbol) for symbol in outline.symbols)
        outline = dataclasses.replace(outline, symbols=symbols)
    if not redactions and outline == doc.outline:
        return doc, ()
    sections = tuple(section for section, _ in results)
    return dataclasses.replace(doc, sections=sections, outline=outline), redactions
