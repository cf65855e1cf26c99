"""Word, web page, e-book and notebook bytes -> one `Section` per citable place (ingest/places.py).

One reader per format, each giving an `Extraction` with a one-line `skip_reason` for a broken or
encrypted file and never raising. Zip containers are read under caps (ingest/zipped.py); every
reader runs in the killable worker, as PDFs do (ingest/isolation.py).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from posixpath import dirname, join, normpath
from typing import Any
from urllib.parse import unquote

from longread.ingest.document import Section
from longread.ingest.places import format_of_kind
from longread.ingest.textfile import TEXT_READER, Extraction, normalise_newlines, read_text
from longread.ingest.webtext import main_text, page_sections
from longread.ingest.zipped import EXTRA_MISSING, Container, ContainerError, xml_available

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_OPF = "{http://www.idpf.org/2007/opf}"
_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_ENC = "{http://www.w3.org/2001/04/xmlenc#}"
_FONT_OBFUSCATION = ("http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_TEMPLATE = re.compile(rb"\{\{|\{%|<%|<\?php")


def documents_reader_version(kind: str) -> str:
    """The cache key of a format's reader: re-read when it, the text decoder it uses for web
    pages, chapters and notebooks, or the extra changes."""
    needs_xml = kind in ("docx", "epub")
    return f"{kind}-1+{TEXT_READER}" + ("" if not needs_xml or xml_available() else ":no-extra")


def read_document(kind: str, data: bytes, *, time_limit_s: float) -> Extraction:
    """The sections of one file of `kind` ("docx", "html", "epub", "notebook")."""
    readers: dict[str, Callable[[bytes, float], Extraction]] = {
        "docx": _docx, "html": _webpage, "epub": _epub, "notebook": _notebook}
    try:
        return readers[kind](data, time.monotonic() + time_limit_s)
    except ContainerError as exc:
        return Extraction(skip_reason=_one_line(str(exc)))
    except Exception as exc:  # a reader bug or odd input costs this file only, with its reason
        return Extraction(skip_reason=_one_line(f"unreadable {kind} ({type(exc).__name__}: {exc})"))


def _one_line(reason: str) -> str:
    """A skip reason is one line of the manifest and of stderr."""
    return " ".join(reason.split())[:240]


def _placed(kind: str, texts: list[tuple[int, str]]) -> Extraction:
    """Sections numbered as the format's place counts them (`p=3`, `ch=2`, `cell=7`)."""
    fmt = format_of_kind(kind)
    key = fmt.key if fmt else "page"
    sections = tuple(Section(text, page=n, place=f"{key}={n}") for n, text in texts)
    if not sections:
        return Extraction(skip_reason=f"no text in this {kind} file")
    return Extraction(sections)


def _docx(data: bytes, deadline: float) -> Extraction:
    if not xml_available():
        return Extraction(skip_reason=EXTRA_MISSING)
    box = Container(data, "docx")
    body = box.xml("word/document.xml").find(f"{_W}body")
    if body is None:
        raise ContainerError("unreadable docx (word/document.xml has no body)")
    levels = _heading_levels(box)
    texts = [text for text in (_block_text(block, levels) for block in _blocks(body)) if text]
    return _placed("docx", list(enumerate(texts, start=1)))


def _heading_levels(box: Container) -> dict[str, int]:
    """Style id -> heading level, from the names in styles.xml ("heading 2", "Title")."""
    if "word/styles.xml" not in box.names():
        return {}
    levels: dict[str, int] = {}
    for style in box.xml("word/styles.xml").iter(f"{_W}style"):
        name_element = style.find(f"{_W}name")
        name = (name_element.get(f"{_W}val") if name_element is not None else "") or ""
        match = re.fullmatch(r"heading (\d)", name.lower())
        level = int(match[1]) if match else 1 if name.lower() == "title" else 0
        if level:
            levels[style.get(f"{_W}styleId") or ""] = level
    return levels


def _blocks(body: Any) -> Iterator[Any]:
    """Paragraphs and tables in reading order, content controls opened."""
    for child in body:
        if child.tag in (f"{_W}p", f"{_W}tbl"):
            yield child
        elif child.tag == f"{_W}sdt":
            content = child.find(f"{_W}sdtContent")
            if content is not None:
                yield from _blocks(content)


def _block_text(block: Any, levels: dict[str, int]) -> str:
    if block.tag == f"{_W}tbl":
        rows = [" | ".join(_runs(cell).strip() for cell in row.iter(f"{_W}tc"))
                for row in block.iter(f"{_W}tr")]
        return "\n".join(row for row in rows if row.strip(" |"))
    text = _runs(block).strip()
    style = block.find(f"{_W}pPr/{_W}pStyle")
    level = levels.get(style.get(f"{_W}val") or "", 0) if style is not None else 0
    return f"{'#' * level} {text}" if level and text else text


def _runs(element: Any) -> str:
    pieces: list[str] = []
    for node in element.iter():
        if node.tag == f"{_W}t":
            pieces.append(node.text or "")
        elif node.tag == f"{_W}tab":
            pieces.append("\t")
        elif node.tag in (f"{_W}br", f"{_W}cr"):
            pieces.append("\n")
        elif node.tag == f"{_W}p" and pieces:
            pieces.append("\n")  # a paragraph inside a table cell
    return "".join(pieces)


def _webpage(data: bytes, deadline: float) -> Extraction:
    """A page's main text cut at its headings; a template (Jinja, ERB, PHP) or a page with no
    text to read (an app's shell: scripts and a root element) stays its source, as code."""
    decoded = read_text(data)
    if decoded.skip_reason is not None or _TEMPLATE.search(data):
        return decoded
    sections = tuple(Section(text, page=n, place=place)
                     for n, (place, text) in enumerate(page_sections(decoded.sections[0].text), 1))
    return Extraction(sections, decoded.notes) if sections else decoded


def _epub(data: bytes, deadline: float) -> Extraction:
    if not xml_available():
        return Extraction(skip_reason=EXTRA_MISSING)
    box = Container(data, "epub")
    if _drm(box):
        return Extraction(skip_reason="encrypted (DRM)")
    texts: list[str] = []
    notes: list[str] = []
    spine = _spine(box)
    for number, name in enumerate(spine, start=1):
        if time.monotonic() > deadline:
            notes.append(f"stopped after {number - 1} of {len(spine)} spine items: time limit")
            break
        html = read_text(box.read(name))
        text = main_text(html.sections[0].text) if html.skip_reason is None else ""
        if text.strip():
            texts.append(text)
    extraction = _placed("epub", list(enumerate(texts, start=1)))
    return Extraction(extraction.sections, tuple(notes), extraction.skip_reason)


def _drm(box: Container) -> bool:
    """Encrypted content beyond font obfuscation (which any reader undoes) means DRM."""
    if "META-INF/encryption.xml" not in box.names():
        return False
    methods = [method.get("Algorithm") or "" for method in
               box.xml("META-INF/encryption.xml").iter(f"{_ENC}EncryptionMethod")]
    return any(method not in _FONT_OBFUSCATION for method in methods)


def _spine(box: Container) -> list[str]:
    """The chapters' member names in reading order (container.xml -> package -> spine)."""
    rootfile = box.xml("META-INF/container.xml").find(f"{_CONTAINER}rootfiles/{_CONTAINER}rootfile")
    opf_name = rootfile.get("full-path") if rootfile is not None else None
    if not opf_name:
        raise ContainerError("unreadable epub (container.xml names no package)")
    package = box.xml(opf_name)
    hrefs = {item.get("id"): item.get("href") for item in package.iter(f"{_OPF}item")}
    base = dirname(opf_name)
    names = box.names()
    spine = [normpath(join(base, unquote(hrefs[ref.get("idref")].split("#")[0])))
             for ref in package.iter(f"{_OPF}itemref") if hrefs.get(ref.get("idref"))]
    return [name for name in spine if name in names]


def _notebook(data: bytes, deadline: float) -> Extraction:
    decoded = read_text(data)
    if decoded.skip_reason is not None:
        return decoded
    try:
        notebook = json.loads(decoded.sections[0].text)
    except json.JSONDecodeError as exc:
        return Extraction(skip_reason=f"unreadable notebook (bad JSON: {exc})")
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return Extraction(skip_reason="unreadable notebook (no cells: nbformat 4 is read)")
    texts = [(n, _cell_text(cell)) for n, cell in enumerate(cells, start=1)]
    return _placed("notebook", [(n, text) for n, text in texts if text.strip()])


def _cell_text(cell: Any) -> str:
    """A cell's source, then each output's text (images named, not shown)."""
    if not isinstance(cell, dict):
        return ""
    source = _joined(cell.get("source")).strip("\n")
    outputs = [_output_text(output) for output in cell.get("outputs") or []
               if isinstance(output, dict)]
    shown = [text for text in outputs if text.strip()]
    kind = cell.get("cell_type") or "code"
    head = f"[{kind}]" if kind != "code" else f"In [{cell.get('execution_count') or ' '}]:"
    parts = [head, source] + [f"Out:\n{text.strip(chr(10))}" for text in shown]
    return normalise_newlines("\n".join(parts)) if source or shown else ""


def _output_text(output: dict[str, Any]) -> str:
    if output.get("output_type") == "stream":
        return _ANSI.sub("", _joined(output.get("text")))
    if output.get("output_type") == "error":
        trace = "\n".join(_ANSI.sub("", line) for line in output.get("traceback") or [])
        return trace or f"{output.get('ename')}: {output.get('evalue')}"
    bundle = output.get("data") or {}
    if not isinstance(bundle, dict):
        return ""
    if "text/plain" in bundle:
        return _joined(bundle["text/plain"])
    return " ".join(f"[{mime} output]" for mime in sorted(bundle))


def _joined(value: Any) -> str:
    """Notebook text is a string or a list of strings."""
    if isinstance(value, list):
        return "".join(item for item in value if isinstance(item, str))
    return value if isinstance(value, str) else ""
