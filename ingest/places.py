"""Citable places inside a document, as the part of a citation after `#`: one syntax per format.

| format            | a place            | what it names                                  |
|-------------------|--------------------|------------------------------------------------|
| PDF               | `file.pdf#page=3`  | page 3                                         |
| Word (.docx)      | `report.docx#p=12` | the 12th paragraph with text (headings, tables)|
| web page (.html)  | `page.html#install`| the heading with that id (or slug) and its text|
| e-book (.epub)    | `book.epub#ch=3`   | the 3rd chapter with text, in reading order    |
| notebook (.ipynb) | `nb.ipynb#cell=7`  | cell 7 (counted from 1 as stored) and outputs  |
| Markdown          | `README.md#install`| the lines from that heading to the next one    |

Sections of a PDF, docx, web page, e-book or notebook carry their place; a Markdown file stays one
text section (packed as before) and its heading places are found in its lines. `parse_place` and
`locate` are the one way the checker, /api/source and MCP `read` turn a place into text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath

from longread.ingest.document import Document
from longread.ingest.lines import line_number, split_lines

# The part after "#" a citation may carry: numbered places, or an anchor (not `L12`: lines).
PLACE_PATTERN = r"(?:page|p|ch|cell)=\d+|(?!L\d)[^\W\d_][\w\-.]*(?<![.\-])"
_NUMBERED = re.compile(r"(?P<key>page|p|ch|cell)=(?P<number>\d+)")
_ANCHOR = re.compile(r"[^\W\d_][\w\-.]*(?<![.\-])")  # as PLACE_PATTERN finds it in an answer
_ATX = re.compile(r" {0,3}#{1,6}(?:[ \t]+|$)")  # the title is cut out by hand: no backtracking
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
TOP = "top"  # the place of a web page's text before its first heading (HTML's own "#top")


@dataclass(frozen=True)
class Format:
    """A format with citable places: its document kind, what its sections are called, and the
    key of a numbered place (None: places are anchors)."""

    kind: str
    unit: str
    key: str | None


FORMATS = {
    ".pdf": Format("pdf", "pages", "page"),
    ".docx": Format("docx", "paragraphs", "p"),
    ".html": Format("html", "sections", None),
    ".htm": Format("html", "sections", None),
    ".epub": Format("epub", "chapters", "ch"),
    ".ipynb": Format("notebook", "cells", "cell"),
}
_BY_KIND = {fmt.kind: fmt for fmt in FORMATS.values()}
SECTION_UNITS = frozenset(fmt.unit for fmt in FORMATS.values())
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})


def format_of(path: str) -> Format | None:
    """The format of `path` by its suffix, when it has places of its own."""
    return FORMATS.get(PurePosixPath(path).suffix.lower())


def format_of_kind(kind: str) -> Format | None:
    return _BY_KIND.get(kind)


@dataclass(frozen=True)
class Place:
    """A parsed place: `key` "page", "p", "ch", "cell" with its number, or an anchor."""

    fragment: str
    key: str | None = None
    number: int | None = None

    @property
    def anchor(self) -> str | None:
        return None if self.key else self.fragment


def parse_place(fragment: str) -> Place | None:
    """`fragment` (with or without its "#") as a place, or None when it cannot be one."""
    fragment = fragment.strip().removeprefix("#")
    numbered = _NUMBERED.fullmatch(fragment)
    if numbered:
        number = line_number(numbered["number"])
        return None if number is None else Place(fragment, numbered["key"], number)
    return Place(fragment) if is_anchor(fragment) else None


def is_anchor(text: str) -> bool:
    """An anchor a citation can carry: a letter, then letters, digits, "_", "-" or "."."""
    return len(text) <= 200 and _ANCHOR.fullmatch(text) is not None


@dataclass(frozen=True)
class Located:
    """Where a place is: a section (its number, as the pack's block layout counts it, and text)
    or, in a Markdown file, lines `start`..`end`."""

    text: str
    section: int | None = None
    start: int | None = None
    end: int | None = None


def locate(document: Document, place: Place) -> Located | str:
    """The text `place` names in `document`, or one line saying why it names nothing."""
    fmt = format_of_kind(document.kind)
    if fmt is not None:
        return _in_sections(document, fmt, place)
    if is_markdown(document.path):
        return _in_markdown(document, place)
    return f"{document.path} has no places to cite with '#': cite its lines as path:N"


def is_markdown(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in MARKDOWN_SUFFIXES


def place_of(document: Document, number: int) -> str:
    """The fragment of section `number` (as `Section.page` counts it) of a sectioned document."""
    for section in document.sections:
        if section.page == number:
            return section.place or f"page={number}"
    return f"page={number}"


def _in_sections(document: Document, fmt: Format, place: Place) -> Located | str:
    for index, section in enumerate(document.sections, start=1):
        fragment = section.place or f"page={section.page or index}"
        if fragment == place.fragment:
            return Located(section.text, section=section.page or index)
    return f"{document.path} has no place #{place.fragment} ({_expected(document, fmt)})"


def _expected(document: Document, fmt: Format) -> str:
    places = [section.place or f"page={section.page}" for section in document.sections]
    if fmt.key is None:
        shown = ", ".join("#" + place for place in places[:8])
        more = f" and {len(places) - 8} more" if len(places) > 8 else ""
        return f"its anchors are {shown}{more}" if places else "it has no anchors"
    numbers = [section.page or 0 for section in document.sections]
    span = f"{min(numbers)}-{max(numbers)}" if numbers else "none"
    return f"its {fmt.unit} are #{fmt.key}={span}"


def _in_markdown(document: Document, place: Place) -> Located | str:
    lines = split_lines(document.text)
    headings = markdown_headings(lines)
    for number, (slug, start) in enumerate(headings):
        if slug == place.fragment:
            end = headings[number + 1][1] - 1 if number + 1 < len(headings) else len(lines)
            return Located("\n".join(lines[start - 1:end]), start=start, end=end)
    known = ", ".join("#" + slug for slug, _ in headings[:8]) or "none"
    return f"{document.path} has no heading #{place.fragment} (its headings: {known})"


def markdown_headings(lines: list[str]) -> list[tuple[str, int]]:
    """(anchor, line number) of each ATX heading outside fenced code, anchors as GitHub makes
    them (a repeated one gets -1, -2, ...)."""
    found: list[tuple[str, int]] = []
    fence: str | None = None
    for number, line in enumerate(lines, start=1):
        opened = _FENCE.match(line)
        if opened and (fence is None or opened[1].startswith(fence)):
            fence = opened[1][:3] if fence is None else None
            continue
        heading = None if fence else _ATX.match(line)
        title = _title(line[heading.end():]) if heading else ""
        if title:
            found.append((title, number))
    return [(anchor, number) for anchor, (_, number) in
            zip(unique_anchors([text for text, _ in found]), found, strict=True)]


def _title(rest: str) -> str:
    """A heading's text without its closing run of "#" (one only after a space, as CommonMark)."""
    title = rest.strip(" \t")
    bare = title.rstrip("#")
    return bare.rstrip(" \t") if bare != title and (not bare or bare[-1] in " \t") else title


def unique_anchors(titles: list[str]) -> list[str]:
    """Each title's anchor (`slug`), made unique as GitHub does: "usage", "usage-1", ..."""
    seen: dict[str, int] = {}
    anchors: list[str] = []
    for title in titles:
        base = slug(title) or "section"
        anchor = base if base not in seen else f"{base}-{seen[base]}"
        seen[base] = seen.get(base, 0) + 1
        anchors.append(anchor)
    return anchors


def slug(title: str) -> str:
    """A heading's anchor as GitHub writes it: lower case, punctuation dropped, spaces to "-"."""
    text = unicodedata.normalize("NFKC", title).strip().lower()
    kept = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    anchor = kept.replace(" ", "-").rstrip("-")
    if anchor and not anchor[0].isalpha():
        anchor = "h-" + anchor  # a place starts with a letter, so `#2024` is never a number
    return anchor
