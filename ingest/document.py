"""The values ingest produces: documents with citable sections, code outlines, skips."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

DocumentKind = Literal["code", "text", "pdf", "docx", "html", "epub", "notebook"]


@dataclass(frozen=True)
class Symbol:
    """One definition in a code outline: its signature as written, with 1-based line numbers."""

    name: str
    kind: str  # "class", "function", "method", "struct", "interface", "enum", "type", ...
    line: int
    end_line: int
    signature: str  # may span lines; decorators included


@dataclass(frozen=True)
class Outline:
    """Structure of one code file: the outline shown at `outline` fidelity, and the names the
    symbol graph ranks (what this file defines, what it references)."""

    language: str
    symbols: tuple[Symbol, ...] = ()
    definitions: tuple[str, ...] = ()
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class Section:
    """A citable part of a document: one page of a PDF (page >= 1), the whole of a text file, or
    one place of a docx, web page, e-book or notebook: `place` is what a citation writes after
    "#" (ingest/places.py), `page` its number in the document's order."""

    text: str
    page: int | None = None
    has_text_layer: bool = True
    ocr_confidence: float | None = None  # a page read by OCR: Tesseract's mean word confidence
    place: str | None = None  # a citable place other than a page: `p=12`, `install`, `cell=7`


@dataclass(frozen=True)
class PageImage:
    """A PDF page without a text layer, rendered for OCR (ingest/ocr.py); `sha256` of its pixels."""

    page: int
    png: bytes = field(repr=False)
    sha256: str


@dataclass(frozen=True)
class Document:
    """One readable file of the corpus. `path` is its citable id (posix, relative to its root)."""

    path: str
    kind: DocumentKind
    sha256: str
    size: int
    sections: tuple[Section, ...]
    language: str | None = None
    outline: Outline | None = None
    notes: tuple[str, ...] = field(default=())  # e.g. "page 3 has no text layer"

    @property
    def text(self) -> str:
        return "\n".join(section.text for section in self.sections)


@dataclass(frozen=True)
class Skipped:
    """A file of the corpus that is not in the pack, and why (named in the manifest)."""

    path: str
    reason: str


def skip_summary(reasons: Iterable[str]) -> str:
    """"skipped 14: 9 encrypted, 5 binary": skips counted by the kind of their reason (the words
    before any parenthesis), most frequent first, for one line on stderr."""
    kinds = Counter(reason.split(" (", 1)[0].strip() or "unknown reason" for reason in reasons)
    ranked = sorted(kinds.items(), key=lambda item: (-item[1], item[0]))
    return f"skipped {sum(kinds.values())}: " + ", ".join(f"{n} {kind}" for kind, n in ranked)
