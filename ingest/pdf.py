"""PDF bytes -> one `Section` per page, through pypdfium2 when installed (~20x faster) or pypdf.

Both readers give the same shape: page numbers from 1, `has_text_layer=False` (and one note) for
pages without text, the empty password tried on encrypted files. A file neither reader can open is
an `Extraction` with a one-line `skip_reason`; nothing here raises for a bad PDF or prints.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from longread.ingest.document import PageImage, Section
from longread.ingest.textfile import Extraction, normalise_newlines

ENCRYPTED = "encrypted (password required)"
NO_TEXT_LAYER = "no text layer (scanned?)"
DEFAULT_TIME_LIMIT_S = 30.0
_MAX_WARNING_NOTES = 3


class _PasswordRequired(Exception):
    """The document opens only with a password we do not have."""


@dataclass(frozen=True)
class _Pages:
    """An open document as a page count and a function from page index to page text."""

    count: int
    text_of: Callable[[int], str]
    close: Callable[[], None]
    image_of: Callable[[int], PageImage] | None = None  # pdfium only: the page drawn for OCR


def pdfium_available() -> bool:
    """Installed, found without importing it (every run names the reader in its cache key)."""
    return importlib.util.find_spec("pypdfium2") is not None


def pdf_reader_version(reader: str | None = None) -> str:
    """The cache key of the reader in use: re-extract when the reader or its output changes."""
    return f"pdf-2:{reader or default_reader()}"


def default_reader() -> str:
    return "pdfium" if pdfium_available() else "pypdf"


def read_pdf(
    data: bytes, *, time_limit_s: float = DEFAULT_TIME_LIMIT_S, reader: str | None = None,
    render: bool = False,
) -> Extraction:
    """One section per page; pdfium first (when chosen), pypdf for what pdfium cannot open.
    `render`: each page without a text layer is also drawn for OCR (`Extraction.images`).

    The time limit is checked between pages: a pathological file keeps the pages read so far."""
    with _captured_warnings() as captured:
        try:
            extraction = _read_with(reader or default_reader(), data, time_limit_s, render)
        except _PasswordRequired:
            extraction = Extraction(skip_reason=ENCRYPTED)
        except Exception as exc:  # a broken PDF raises anything from anywhere inside the readers
            extraction = Extraction(skip_reason=f"unreadable PDF ({_one_line(exc)})")
    if extraction.skip_reason is None and captured:
        extraction = replace(extraction, notes=extraction.notes + _warning_notes(captured))
    return extraction


def _read_with(reader: str, data: bytes, time_limit_s: float, render: bool) -> Extraction:
    if reader == "pdfium":
        try:
            pages = _open_pdfium(data)
        except Exception:  # pdfium refuses files pypdf repairs or decrypts: give pypdf its chance
            pages = _open_pypdf(data)
    else:
        pages = _open_pypdf(data)
    try:
        if not render:
            pages = replace(pages, image_of=None)
        return _extract(pages, time.monotonic() + time_limit_s, time_limit_s)
    finally:
        pages.close()


def _extract(pages: _Pages, deadline: float, time_limit_s: float) -> Extraction:
    if pages.count == 0:
        return Extraction(skip_reason="PDF has no pages")
    sections: list[Section] = []
    notes: list[str] = []
    for index in range(pages.count):
        if time.monotonic() > deadline:
            notes.append(f"stopped after page {index} of {pages.count}: "
                         f"time limit of {time_limit_s:g} s exceeded")
            break
        sections.append(_page_section(pages, index, notes))
    if not sections:
        return Extraction(skip_reason=f"time limit of {time_limit_s:g} s exceeded")
    images = _images(pages, sections, time_limit_s, notes) if pages.image_of else []
    notes[:0] = page_notes(sections)
    return Extraction(tuple(sections), tuple(notes), images=tuple(images))


def _images(
    pages: _Pages, sections: Sequence[Section], time_limit_s: float, notes: list[str]
) -> list[PageImage]:
    """The pages without a text layer drawn for OCR, within a time limit of their own (a long
    scan is not cut short by its drawing: the text of every page came first)."""
    deadline = time.monotonic() + time_limit_s
    blank = [s.page or 0 for s in sections if not s.has_text_layer]
    images: list[PageImage] = []
    for number in blank:
        if time.monotonic() > deadline:
            left = blank[blank.index(number):]
            notes.append(f"{_page_list(list(left))} not been drawn for OCR: "
                         f"time limit of {time_limit_s:g} s exceeded")
            break
        images.extend(_page_image(pages.image_of, number - 1, notes))
    return images


def page_notes(sections: Sequence[Section]) -> list[str]:
    """Which pages have no text layer, and which of those OCR read (ingest/ocr.py)."""
    blank = [s.page for s in sections if not s.has_text_layer and s.ocr_confidence is None]
    read = [s.page for s in sections if s.ocr_confidence is not None]
    notes = [f"{_page_list(blank)} {NO_TEXT_LAYER}"] if blank else []
    return notes + ([f"{_page_list(read)} no text layer: read by OCR"] if read else [])


def _page_image(
    image_of: Callable[[int], PageImage] | None, index: int, notes: list[str]
) -> list[PageImage]:
    if image_of is None:
        return []
    try:
        return [replace(image_of(index), page=index + 1)]
    except Exception as exc:  # the page stays without text, as without OCR
        notes.append(f"page {index + 1}: not rendered for OCR ({_one_line(exc)})")
        return []


def _page_section(pages: _Pages, index: int, notes: list[str]) -> Section:
    try:
        # a page has no file lines to agree with: a lone "\r" from the extractor is a break too
        text = normalise_newlines(pages.text_of(index)).replace("\r", "\n").strip("\n")
    except Exception as exc:  # one bad page does not lose the others
        notes.append(f"page {index + 1}: text not extracted ({_one_line(exc)})")
        return Section("", page=index + 1, has_text_layer=False)
    return Section(text, page=index + 1, has_text_layer=bool(text.strip()))


def _open_pdfium(data: bytes) -> _Pages:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)

    def text_of(index: int) -> str:
        page = document[index]
        textpage = page.get_textpage()
        try:
            return textpage.get_text_bounded()
        finally:
            textpage.close()
            page.close()

    def image_of(index: int) -> PageImage:
        from longread.ingest.ocr import render_page

        page = document[index]
        try:
            return render_page(page)
        finally:
            page.close()

    return _Pages(len(document), text_of, document.close, image_of)


def _open_pypdf(data: bytes) -> _Pages:
    from pypdf import PasswordType, PdfReader

    document = PdfReader(io.BytesIO(data))
    if document.is_encrypted and document.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise _PasswordRequired
    return _Pages(len(document.pages), lambda index: document.pages[index].extract_text(),
                  document.close)


@contextmanager
def _captured_warnings() -> Iterator[list[str]]:
    """Collect pypdf's log records and Python warnings instead of letting them reach stderr."""
    captured: list[str] = []
    handler = _ListHandler(captured)
    logger = logging.getLogger("pypdf")
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield captured
        captured.extend(str(item.message) for item in caught)
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.WARNING)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self._sink.append(record.getMessage())


def _warning_notes(messages: list[str]) -> tuple[str, ...]:
    unique = list(dict.fromkeys(_one_line_text(message) for message in messages))
    notes = [f"reader warning: {message}" for message in unique[:_MAX_WARNING_NOTES]]
    if len(unique) > _MAX_WARNING_NOTES:
        notes.append(f"reader warning: {len(unique) - _MAX_WARNING_NOTES} more")
    return tuple(notes)


def _page_list(pages: list[int | None]) -> str:
    """[1, 2, 3, 7] -> "pages 1-3, 7 have"; [4] -> "page 4 has"."""
    numbers = sorted(page for page in pages if page is not None)
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    text = ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)
    return f"page {text} has" if len(numbers) == 1 else f"pages {text} have"


def _one_line(exc: BaseException) -> str:
    return _one_line_text(str(exc)) or type(exc).__name__


def _one_line_text(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:200]
