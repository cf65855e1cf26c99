"""Pack styles: how xml, markdown and plain text write a pack's fixed pieces, one object each.

A style writes the note and the file tree's frame, a block's opener and closer, a PDF page's
heading and a part's label; ingest/render.py assembles blocks from them and never asks which style
it has. The style is chosen once, from the --format value (`pack_style`). A closer is made one the
body cannot contain: an xml tag the body holds is renamed for that one block, a markdown fence is
made longer than any run of backticks in it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Protocol

from longread.ingest.document import Section

NOTE = (
    "The file tree shows how each file is given: [full] text, [outline] signatures only, [path] "
    "listed only; a folder line `dir/ [path: N files]` stands for N files listed only by path, and "
    "`dir/ [skipped N: ...]` counts the files left out and why. Every document carries a citable "
    "id, its path: cite code and text as path:line and PDF pages as file.pdf#page=N."
)
_BACKTICKS = re.compile(r"`+")
_PART_ATTR = re.compile(r' part="[^"]*"')


class PackStyle(Protocol):
    """What rendering needs from a style; every piece it returns ends with "\\n"."""

    @property
    def name(self) -> str: ...

    def header_open(self, *, with_tree: bool = True) -> str:
        """The fixed text before the tree lines (the note on citable ids comes first)."""
        ...

    def header_close(self, *, with_tree: bool = True) -> str: ...

    def tree(self, body: str) -> tuple[str, str]:
        """The header's opener and closer around tree lines `body`, which cannot close it."""
        ...

    def opener(self, path: str, fidelity: str, *, empty: bool = False) -> str:
        """A block's first line, naming its document; `empty`: a block with no body."""
        ...

    def enclose(self, opener: str, body: str, language: str) -> tuple[str, str]:
        """A block's opener and closer around a body of lines in `language`."""
        ...

    def enclose_pages(self, opener: str, body: str) -> tuple[str, str]:
        """A PDF block's opener and closer around its pages (each page framed by `page`)."""
        ...

    def page(self, pid: str, text: str, section: Section, name: str = "page") -> str:
        """One PDF page (or a docx/web page/e-book/notebook place: `name` "section") under its
        citable id, flagged when it had no text layer or was read by OCR."""
        ...

    def with_part(self, opener_line: str, part: str) -> str:
        """A block's first line labelled (or relabelled) as one part of its document."""
        ...


class XmlStyle:
    """Tags: <note>, <file_tree>, <document id=... fidelity=...> and <page id=...>."""

    name = "xml"

    def header_open(self, *, with_tree: bool = True) -> str:
        return f"<note>{NOTE}</note>\n" + ("<file_tree>\n" if with_tree else "")

    def header_close(self, *, with_tree: bool = True) -> str:
        return "</file_tree>\n" if with_tree else ""

    def tree(self, body: str) -> tuple[str, str]:
        tag = _safe_tag("file_tree", body)
        return self.header_open().replace("<file_tree>", f"<{tag}>"), f"</{tag}>\n"

    def opener(self, path: str, fidelity: str, *, empty: bool = False) -> str:
        end = "/>" if empty else ">"
        return f'<document id="{_attr(path)}" fidelity="{fidelity}"{end}\n'

    def enclose(self, opener: str, body: str, language: str) -> tuple[str, str]:
        return self.enclose_pages(opener, body)

    def enclose_pages(self, opener: str, body: str) -> tuple[str, str]:
        tag = _safe_tag("document", body)
        return opener.replace("<document ", f"<{tag} ", 1), f"</{tag}>\n"

    def page(self, pid: str, text: str, section: Section, name: str = "page") -> str:
        tag = _safe_tag(name, text)
        ocr = section.ocr_confidence
        layer = ("" if section.has_text_layer else ' text_layer="none"' if ocr is None
                 else f' text_layer="ocr" ocr_confidence="{ocr:g}"')
        return f'<{tag} id="{_attr(pid)}"{layer}>\n{text}</{tag}>\n'

    def with_part(self, opener_line: str, part: str) -> str:
        head, _, tail = _PART_ATTR.sub("", opener_line).rpartition(">")
        return f'{head} part="{part}">{tail}'


class MarkdownStyle:
    """Headings, with each body in a fenced code block of its language."""

    name = "markdown"

    def header_open(self, *, with_tree: bool = True) -> str:
        return f"# Context pack\n{NOTE}\n" + ("## File tree\n```text\n" if with_tree else "")

    def header_close(self, *, with_tree: bool = True) -> str:
        return "```\n" if with_tree else ""

    def tree(self, body: str) -> tuple[str, str]:
        fence = _fence(body)
        return self.header_open().replace("```text", f"{fence}text"), f"{fence}\n"

    def opener(self, path: str, fidelity: str, *, empty: bool = False) -> str:
        return f"## {path} ({fidelity})\n"

    def enclose(self, opener: str, body: str, language: str) -> tuple[str, str]:
        fence = _fence(body)
        return f"{opener}{fence}{language}\n", f"{fence}\n"

    def enclose_pages(self, opener: str, body: str) -> tuple[str, str]:
        return opener, ""

    def page(self, pid: str, text: str, section: Section, name: str = "page") -> str:
        fence = _fence(text)
        return f"### {pid}{_layer_flag(section)}\n{fence}text\n{text}{fence}\n"

    def with_part(self, opener_line: str, part: str) -> str:
        return _part_in_parentheses(opener_line, part)


class PlainStyle:
    """Plain text: `==> path (fidelity) <==` before each body, as `head` prints files."""

    name = "plain"

    def header_open(self, *, with_tree: bool = True) -> str:
        return f"{NOTE}\n" + ("File tree:\n" if with_tree else "")

    def header_close(self, *, with_tree: bool = True) -> str:
        return "End of file tree.\n" if with_tree else ""

    def tree(self, body: str) -> tuple[str, str]:
        return self.header_open(), self.header_close()

    def opener(self, path: str, fidelity: str, *, empty: bool = False) -> str:
        return f"==> {path} ({fidelity}) <==\n"

    def enclose(self, opener: str, body: str, language: str) -> tuple[str, str]:
        return opener, ""

    def enclose_pages(self, opener: str, body: str) -> tuple[str, str]:
        return opener, ""

    def page(self, pid: str, text: str, section: Section, name: str = "page") -> str:
        return f"--- {pid}{_layer_flag(section)} ---\n{text}"

    def with_part(self, opener_line: str, part: str) -> str:
        return _part_in_parentheses(opener_line, part)


XML = XmlStyle()
STYLES: Mapping[str, PackStyle] = {s.name: s for s in (XML, MarkdownStyle(), PlainStyle())}
FORMATS = tuple(STYLES)  # the --format values


def pack_style(name: str) -> PackStyle:
    """The style a --format value names."""
    if name not in STYLES:
        raise ValueError(f"unknown pack format {name!r}; expected one of {', '.join(FORMATS)}")
    return STYLES[name]


def _part_in_parentheses(opener_line: str, part: str) -> str:
    """`== path (fidelity) ==` -> `== path (fidelity, part) ==` (a former part replaced)."""
    head, _, tail = opener_line.rpartition(")")
    head, _, label = head.rpartition("(")
    return f"{head}({label.split(',')[0]}, {part}){tail}"


def _layer_flag(section: Section) -> str:
    if section.has_text_layer:
        return ""
    ocr = section.ocr_confidence
    return " (no text layer)" if ocr is None else f" (OCR, confidence {ocr:g})"


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
