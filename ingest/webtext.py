"""HTML -> its main text, cut at headings (web pages) or whole (an e-book's chapter).

The standard library's html.parser is enough: no rendering, no scripts, only which text a reader
sees. Main text: what is inside <main> or <article> when the page has one, else the <body> less
navigation, headers, footers, asides, forms, scripts and styles. Each heading starts a section
whose place is the heading's id (or its GitHub-style slug); text before the first one is `#top`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser

from longread.ingest.places import TOP, is_anchor, unique_anchors

_SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "head", "nav",
                      "header", "footer", "aside", "form", "button", "select", "iframe"})
_MAIN = frozenset({"main", "article"})
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_BLOCKS = frozenset({"p", "div", "br", "li", "tr", "pre", "blockquote", "section", "table",
                     "ul", "ol", "dl", "dt", "dd", "figure", "figcaption", "hr", "body", "html",
                     *_HEADINGS, *_MAIN})
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed",
                   "source", "track", "wbr", "param"})
_SPACES = re.compile(r"[ \t\r\n\f\v]+")


@dataclass
class _Heading:
    level: int
    title: str
    anchor: str | None  # the element's id, when it can be cited as written


@dataclass
class _Chunk:
    """Text of the page in order: a run of words, a line break, or a heading."""

    text: str = ""
    heading: _Heading | None = None
    in_main: bool = False


@dataclass
class _State:
    chunks: list[_Chunk] = field(default_factory=list)
    open_tags: list[str] = field(default_factory=list)
    open_counts: Counter[str] = field(default_factory=Counter)  # a stray end tag costs O(1)
    skipped: int = 0
    main: int = 0
    pre: int = 0
    heading: _Heading | None = None
    heading_words: list[str] = field(default_factory=list)
    has_main: bool = False


class _Reader(HTMLParser):
    """Collects the page's text chunks; never raises on bad markup (html.parser recovers)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.state = _State()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        state = self.state
        if tag not in _VOID:
            state.open_tags.append(tag)
            state.open_counts[tag] += 1
        self._enter(tag, +1)
        if tag in _HEADINGS and not state.skipped:
            element_id = dict(attrs).get("id") or ""
            state.heading = _Heading(_HEADINGS[tag], "", element_id if is_anchor(element_id)
                                     else None)
            state.heading_words = []
        elif tag == "li" and not state.skipped:
            self._add("\n- ")
        elif tag in _BLOCKS:
            self._add("\n")

    def handle_endtag(self, tag: str) -> None:
        state = self.state
        if not state.open_counts[tag]:
            return  # a stray end tag closes nothing
        while state.open_tags:
            opened = state.open_tags.pop()
            state.open_counts[opened] -= 1
            self._enter(opened, -1)
            self._close(opened)
            if opened == tag:
                break

    def handle_data(self, data: str) -> None:
        state = self.state
        if state.skipped:
            return
        if state.heading is not None:
            state.heading_words.append(data)
        else:
            self._add(data if state.pre else _SPACES.sub(" ", data))

    def _enter(self, tag: str, step: int) -> None:
        state = self.state
        if tag in _SKIPPED:
            state.skipped += step
        elif tag in _MAIN:
            state.main += step
            state.has_main = True
        elif tag == "pre":
            state.pre += step

    def _close(self, tag: str) -> None:
        state = self.state
        if tag in _HEADINGS and state.heading is not None:
            state.heading.title = _SPACES.sub(" ", "".join(state.heading_words)).strip()
            state.chunks.append(_Chunk(heading=state.heading, in_main=state.main > 0))
            state.heading = None
        elif tag in _BLOCKS:
            self._add("\n")

    def _add(self, text: str) -> None:
        if not self.state.skipped:
            self.state.chunks.append(_Chunk(text, in_main=self.state.main > 0))


def _chunks(html: str) -> list[_Chunk]:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    chunks = reader.state.chunks
    if reader.state.has_main and any(c.in_main and (c.heading or c.text.strip()) for c in chunks):
        chunks = [chunk for chunk in chunks if chunk.in_main]
    return chunks


def main_text(html: str) -> str:
    """The page's main text as lines, headings written as Markdown headings ("## Install")."""
    return "\n".join(text for _, _, text in _split(html, whole=True))


def page_sections(html: str) -> list[tuple[str, str]]:
    """(place, text) of each section of a web page: `top`, then one per heading."""
    sections = _split(html, whole=False)
    titles = [title for title, _, _ in sections]
    slugs = unique_anchors([title or TOP for title in titles])
    taken: set[str] = set()
    placed: list[tuple[str, str]] = []
    for (title, anchor, text), made in zip(sections, slugs, strict=True):
        place = TOP if not title and not placed else anchor or made
        while place in taken:  # an id written twice, or an id equal to another's slug
            place += "-x"
        taken.add(place)
        placed.append((place, text))
    return [(place, text) for place, text in placed if text.strip()]


def _split(html: str, *, whole: bool) -> list[tuple[str, str | None, str]]:
    """(heading title, its id, text) per section; `whole`: one section for all of it."""
    sections: list[tuple[str, str | None, list[str]]] = [("", None, [])]
    for chunk in _chunks(html):
        if chunk.heading is not None:
            line = "#" * chunk.heading.level + " " + chunk.heading.title
            if whole:
                sections[-1][2].append("\n" + line + "\n")
            else:
                sections.append((chunk.heading.title, chunk.heading.anchor, [line + "\n"]))
        else:
            sections[-1][2].append(chunk.text)
    return [(title, anchor, _tidy("".join(parts))) for title, anchor, parts in sections]


def _tidy(text: str) -> str:
    """Lines stripped of edge spaces, runs of blank lines cut to one, no blank edges."""
    lines = [line.strip() for line in text.split("\n")]
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip("\n")
