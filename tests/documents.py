"""Real documents written by the tests: Word files (python-docx), web pages, e-books, notebooks."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from urllib.parse import quote


def docx_bytes(blocks: Sequence[tuple[str, str]]) -> bytes:
    """A Word file: ("h1".."h3", text) headings, ("p", text) paragraphs, ("table", "a|b;c|d")."""
    from docx import Document

    document = Document()
    for kind, text in blocks:
        if kind.startswith("h"):
            document.add_heading(text, level=int(kind[1:]))
        elif kind == "table":
            rows = [row.split("|") for row in text.split(";")]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
        else:
            document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def html_page(title: str, sections: Sequence[tuple[str, str, str | None]]) -> str:
    """A web page with navigation and a footer around <main>: (heading, paragraph, id or None)."""
    parts = [f"<!doctype html><html><head><title>{title}</title><style>p{{color:red}}</style>"
             "<script>var menu = 'Navigation script text';</script></head><body>",
             "<nav><a href='/'>Home</a> <a href='/docs'>Docs menu</a></nav><main>",
             f"<p>{title} introduces the tool.</p>"]
    for heading, text, anchor in sections:
        attribute = f' id="{anchor}"' if anchor else ""
        parts.append(f"<h2{attribute}>{heading}</h2><p>{text}</p>")
    parts.append("</main><footer>Copyright footer text</footer></body></html>")
    return "\n".join(parts)


def epub_bytes(
    chapters: Sequence[tuple[str, str]], *, encrypted: bool = False, stem: str = "ch"
) -> bytes:
    """An EPUB 3 of (title, paragraph) chapters in reading order, with a cover without text;
    `encrypted`: its chapters are named in an encryption.xml (as DRM does); the chapters' files
    are `text/<stem>N.xhtml`, linked percent-encoded as a package does."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as book:
        book.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr("META-INF/container.xml", _CONTAINER)
        names = ["cover.xhtml"] + [f"text/{stem}{n}.xhtml" for n in range(1, len(chapters) + 1)]
        items = "".join(f'<item id="i{n}" href="{quote(name)}" media-type="application/xhtml+xml"/>'
                        for n, name in enumerate(names))
        spine = "".join(f'<itemref idref="i{n}"/>' for n in range(len(names)))
        book.writestr("OEBPS/content.opf", _PACKAGE.format(items=items, spine=spine))
        book.writestr("OEBPS/cover.xhtml", _xhtml("", '<img src="cover.png"/>'))
        for name, (title, text) in zip(names[1:], chapters, strict=True):
            book.writestr(f"OEBPS/{name}", _xhtml(title, f"<h1>{title}</h1><p>{text}</p>"))
        if encrypted:
            book.writestr("META-INF/encryption.xml", _ENCRYPTION)
    return out.getvalue()


def notebook_json(cells: Sequence[tuple[str, str, str | None]]) -> str:
    """An nbformat 4 notebook of (cell type, source, printed output or None) cells."""
    made = []
    for n, (kind, source, printed) in enumerate(cells, start=1):
        cell: dict[str, object] = {"cell_type": kind, "metadata": {}, "source": source}
        if kind == "code":
            cell["execution_count"] = n
            cell["outputs"] = [] if printed is None else [
                {"output_type": "stream", "name": "stdout", "text": [printed + "\n"]}]
        made.append(cell)
    return json.dumps({"cells": made, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def zip_bomb(member: str, inflated_mib: int) -> bytes:
    """A zip whose `member` inflates to `inflated_mib` MiB of zeros (a few hundred KB stored)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb, bomb.open(member, "w") as inner:
        for _ in range(inflated_mib):
            inner.write(b"\0" * 2**20)
    return out.getvalue()


def _xhtml(title: str, body: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
            f"<head><title>{title}</title></head><body>{body}</body></html>")


_CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>
</rootfiles></container>"""
_PACKAGE = """<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Book</dc:title></metadata>
<manifest>{items}</manifest><spine>{spine}</spine></package>"""
_ENCRYPTION = """<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"
 xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>
<enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
<enc:CipherData><enc:CipherReference URI="OEBPS/text/ch1.xhtml"/></enc:CipherData>
</enc:EncryptedData></encryption>"""
