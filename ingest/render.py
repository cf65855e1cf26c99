"""How a pack reads: the file tree and one block per document, in xml, markdown or plain text.

Pure functions over strings. Every piece ends with "\\n" and every block starts with a non-space
character, so with cl100k the token count of the whole pack is the sum of its pieces' counts.
Nothing inside a block is escaped (the model reads raw text); a closing tag that the text itself
contains is made unambiguous by renaming the tag for that one block.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from longread.ingest.document import Document, Section
from longread.ingest.lines import split_lines
from longread.ingest.places import SECTION_UNITS, format_of_kind

FORMATS = ("xml", "markdown", "plain")
NOTE = (
    "The file tree shows how each file is given: [full] text, [outline] signatures only, [path] "
    "listed only; a folder line `dir/ [path: N files]` stands for N files listed only by path, and "
    "`dir/ [skipped N: ...]` counts the files left out and why. Every document carries a citable "
    "id, its path: cite code and text as path:line and PDF pages as file.pdf#page=N."
)
_BACKTICKS = re.compile(r"`+")
_PART_ATTR = re.compile(r' part="[^"]*"')


@dataclass(frozen=True)
class BlockLayout:
    """Where a rendered block's body lies, so split_pack can cut it at line or page boundaries."""

    body_start: int
    body_end: int
    unit: str  # "lines" (code, text), "outline lines", or a SECTION_UNITS ("pages" of a PDF)
    pages: tuple[tuple[int, int], ...] = ()  # (offset in the block text, page number)
    first_line: int = 1  # number of the body's first line (a part may start further down)


@dataclass(frozen=True)
class Part:
    """Exactly what a cut block shows of its document: `ranges` of 1-based, inclusive line (or
    page) numbers shown as written; with `rest` "outline", the other definitions as signatures."""

    unit: str  # "lines", "outline lines" or a SECTION_UNITS ("pages", "cells", ...)
    ranges: tuple[tuple[int, int], ...]
    rest: str | None = None

    @property
    def label(self) -> str:
        spans = ", ".join(f"{low}-{high}" for low, high in self.ranges)
        return f"{self.unit} {spans}" + (f"; {self.rest} of the rest" if self.rest else "")

    def __str__(self) -> str:
        return self.label

    def to_json(self) -> dict[str, object]:
        shown: dict[str, object] = {"unit": self.unit, "ranges": [list(s) for s in self.ranges]}
        return shown if self.rest is None else {**shown, "rest": self.rest}


@dataclass(frozen=True)
class RenderedBlock:
    text: str
    layout: BlockLayout


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown pack format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt


def tree_line(path: str, fidelity: str, part: str | None = None) -> str:
    """One line of the file tree; it starts with the path, so lines add up token by token."""
    return f"{path} [{fidelity}: {part}]\n" if part else f"{path} [{fidelity}]\n"


def header_open(fmt: str, *, with_tree: bool = True) -> str:
    """The fixed text before the tree lines (the note on citable ids comes first)."""
    if fmt == "xml":
        return f"<note>{NOTE}</note>\n" + ("<file_tree>\n" if with_tree else "")
    if fmt == "markdown":
        return f"# Context pack\n{NOTE}\n" + ("## File tree\n```text\n" if with_tree else "")
    return f"{NOTE}\n" + ("File tree:\n" if with_tree else "")


def header_close(fmt: str, *, with_tree: bool = True) -> str:
    if not with_tree:
        return ""
    if fmt == "xml":
        return "</file_tree>\n"
    if fmt == "markdown":
        return "```\n"
    return "End of file tree.\n"


def render_header(
    entries: Sequence[tuple[str, str, str | None]], fmt: str, *, with_tree: bool = True
) -> str:
    """Note and file tree over (path, fidelity, part) entries, in the order given."""
    return render_tree([tree_line(*entry) for entry in entries], fmt, with_tree=with_tree)


def render_tree(lines: Sequence[str], fmt: str, *, with_tree: bool = True) -> str:
    """Note and file tree made of ready tree lines (see ingest/listing.py). A file name cannot
    close the tree early: a tag or fence it contains (`x</file_tree>`, three backticks) makes the
    tree's own one it does not contain, as a block's is."""
    body = "".join(lines) if with_tree else ""
    opener, closer = header_open(fmt, with_tree=with_tree), header_close(fmt, with_tree=with_tree)
    if with_tree and fmt == "xml" and "</file_tree" in body:
        tag = _safe_tag("file_tree", body)
        opener, closer = opener.replace("<file_tree>", f"<{tag}>"), f"</{tag}>\n"
    elif with_tree and fmt == "markdown" and "```" in body:
        fence = _fence(body)
        opener, closer = opener.replace("```text", f"{fence}text"), f"{fence}\n"
    return opener + body + closer


def render_block(
    document: Document,
    fidelity: str,
    fmt: str,
    *,
    line_numbers: bool = False,
    outline: str | None = None,
) -> RenderedBlock:
    """One document at `fidelity` ("full", "outline" needs `outline`, "path")."""
    if fidelity == "path":
        text = _opener(fmt, document.path, fidelity, empty=True)
        return RenderedBlock(text, BlockLayout(len(text), len(text), "lines"))
    if fidelity == "outline":
        block = wrap_body(document.path, fidelity, _ends_newline(outline or ""), fmt, "text")
        return RenderedBlock(block.text, replace(block.layout, unit="outline lines"))
    sectioned = format_of_kind(document.kind)
    if sectioned is not None:
        return _render_sections(document, fmt, sectioned.unit)
    body = _ends_newline(document.text)
    if line_numbers:
        body = number_lines(body)
    return wrap_body(document.path, fidelity, body, fmt, document.language or "text")


def wrap_body(path: str, fidelity: str, body: str, fmt: str, language: str) -> RenderedBlock:
    """Opener + raw body + closer; the closer is made one the body cannot contain."""
    opener = _opener(fmt, path, fidelity)
    if fmt == "xml":
        tag = _safe_tag("document", body)
        opener = opener.replace("<document ", f"<{tag} ", 1)
        closer = f"</{tag}>\n"
    elif fmt == "markdown":
        fence = _fence(body)
        opener += f"{fence}{language}\n"
        closer = f"{fence}\n"
    else:
        closer = ""
    return RenderedBlock(
        opener + body + closer, BlockLayout(len(opener), len(opener) + len(body), "lines")
    )


def with_part(opener_line: str, part: str, fmt: str) -> str:
    """The first line of a block's opener, labelled (or relabelled) as one part of a document."""
    if fmt == "xml":
        head, _, tail = _PART_ATTR.sub("", opener_line).rpartition(">")
        return f'{head} part="{part}">{tail}'
    head, _, tail = opener_line.rpartition(")")
    head, _, label = head.rpartition("(")
    return f"{head}({label.split(',')[0]}, {part}){tail}"


def unit_spans(text: str, layout: BlockLayout) -> list[tuple[int, int, int]]:
    """(start, end, number) of each line or page of a block's body, as offsets into `text`."""
    if layout.unit in SECTION_UNITS:
        starts = [offset for offset, _ in layout.pages] + [layout.body_end]
        return [(starts[i], starts[i + 1], page) for i, (_, page) in enumerate(layout.pages)]
    spans: list[tuple[int, int, int]] = []
    start, number = layout.body_start, layout.first_line
    while start < layout.body_end:
        end = text.find("\n", start, layout.body_end)
        end = layout.body_end if end < 0 else end + 1
        spans.append((start, end, number))
        start, number = end, number + 1
    return spans


def cut_block(
    text: str, layout: BlockLayout, spans: Sequence[tuple[int, int, int]], fmt: str
) -> tuple[RenderedBlock, Part]:
    """A block holding only `spans` (consecutive units) of the body, and the part it names."""
    part = Part(layout.unit, ((spans[0][2], spans[-1][2]),))
    opener = _relabel(text[: layout.body_start], part, fmt)
    body_start, body_end = spans[0][0], spans[-1][1]
    shift = len(opener) - body_start
    pages = tuple(
        (offset + shift, page) for offset, page in layout.pages if body_start <= offset < body_end
    )
    cut = BlockLayout(
        len(opener), len(opener) + body_end - body_start, layout.unit, pages, spans[0][2]
    )
    return RenderedBlock(opener + text[body_start:body_end] + text[layout.body_end :], cut), part


def focus_block(
    block: RenderedBlock, keep: Sequence[tuple[int, int]], outline: Sequence[tuple[int, str]],
    fmt: str, *, complete: bool = True,
) -> tuple[RenderedBlock, Part]:
    """A full block cut to the line ranges `keep` (sorted, disjoint), each shown as written under
    a `── lines a-b ──` rule, with the (line, outline line) pairs outside them in line order
    (all of the outline when `complete`, else "partial outline")."""
    part = Part("lines", tuple(keep), rest="outline" if complete else "partial outline")
    opener = _relabel(block.text[: block.layout.body_start], part, fmt)
    lines = {number: (start, end) for start, end, number in unit_spans(block.text, block.layout)}
    pieces: list[tuple[int, str]] = [(n, f"{text}\n") for n, text in outline
                                     if not any(low <= n <= high for low, high in keep)]
    for low, high in keep:
        shown = "".join(block.text[lines[n][0]:lines[n][1]] for n in range(low, high + 1))
        pieces.append((low, f"── lines {low}-{high} ──\n{_ends_newline(shown)}"))
    body = "".join(text for _, text in sorted(pieces, key=lambda piece: piece[0]))
    closer = block.text[block.layout.body_end :]
    layout = BlockLayout(len(opener), len(opener) + len(body), "focus")
    return RenderedBlock(opener + body + closer, layout), part


def _relabel(opener: str, part: Part, fmt: str) -> str:
    first_line, _, rest = opener.partition("\n")
    return with_part(first_line + "\n", part.label, fmt) + rest


def number_lines(body: str) -> str:
    """Prefix each line with its 1-based number so answers can cite path:line; lines end at "\\n"
    only (split_lines), so line N here is what git, grep and `sed -n Np` call line N."""
    lines = split_lines(body, keepends=True)
    return "".join(f"{number}\t{line}" for number, line in enumerate(lines, start=1))


def _render_sections(document: Document, fmt: str, unit: str) -> RenderedBlock:
    """A PDF's pages, or the places of a docx, web page, e-book or notebook, each under its id."""
    opener = _opener(fmt, document.path, "full")
    pieces: list[str] = []
    pages: list[tuple[int, int]] = []
    offset = len(opener)
    for number, section in enumerate(document.sections, start=1):
        page = section.page or number
        piece = _page(f"{document.path}#{section.place or f'page={page}'}",
                      _ends_newline(section.text), section, fmt,
                      "page" if unit == "pages" else "section")
        pages.append((offset, page))
        pieces.append(piece)
        offset += len(piece)
    body = "".join(pieces)
    tag = _safe_tag("document", body) if fmt == "xml" else ""
    if tag:
        opener = opener.replace("<document ", f"<{tag} ", 1)
    closer = f"</{tag}>\n" if tag else ""
    return RenderedBlock(
        opener + body + closer, BlockLayout(len(opener), offset, unit, tuple(pages))
    )


def _page(pid: str, text: str, section: Section, fmt: str, name: str) -> str:
    ocr = section.ocr_confidence
    flag = ("" if section.has_text_layer else " (no text layer)" if ocr is None
            else f" (OCR, confidence {ocr:g})")
    if fmt == "xml":
        tag = _safe_tag(name, text)
        layer = ("" if section.has_text_layer else ' text_layer="none"' if ocr is None
                 else f' text_layer="ocr" ocr_confidence="{ocr:g}"')
        return f'<{tag} id="{_attr(pid)}"{layer}>\n{text}</{tag}>\n'
    if fmt == "markdown":
        fence = _fence(text)
        return f"### {pid}{flag}\n{fence}text\n{text}{fence}\n"
    return f"--- {pid}{flag} ---\n{text}"


def _opener(fmt: str, path: str, fidelity: str, *, empty: bool = False) -> str:
    if fmt == "xml":
        end = "/>" if empty else ">"
        return f'<document id="{_attr(path)}" fidelity="{fidelity}"{end}\n'
    if fmt == "markdown":
        return f"## {path} ({fidelity})\n"
    return f"==> {path} ({fidelity}) <==\n"


def _safe_tag(name: str, body: str) -> str:
    """`name`, or `name_<hash>` when the body itself contains `</name`."""
    if f"</{name}" not in body:
        return name
    return f"{name}_{hashlib.sha256(body.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def _fence(body: str) -> str:
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    return "`" * max(3, longest + 1)


def _attr(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def _ends_newline(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"
