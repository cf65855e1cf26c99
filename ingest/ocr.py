"""OCR of PDF pages without a text layer: Tesseract on the page as pdfium renders it.

The page is rendered in the PDF worker (ingest/pdf.py, killable per file) and recognised by the
`tesseract` binary in a process of its own, killed at the per-page time limit. Rendering the whole
page (not extracting its embedded images) reads any scan as it looks: JBIG2 and CCITT strips,
masks, rotation and crops included, with pdfium (already a dependency) and Pillow only.
Results are cached by the rendered pixels and the engine's identity (version and language data);
a page's text rests in the cache only when the secret scan found nothing in its document.

Install: `apt-get install tesseract-ocr tesseract-ocr-eng` and `pip install 'longread[ocr]'`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longread.ingest.document import PageImage, Section
from longread.ingest.pdf import NO_TEXT_LAYER, page_notes
from longread.ingest.textfile import Extraction

if TYPE_CHECKING:
    from longread.ingest.cache import IngestCache

LANGUAGE = "eng"
RENDER_DPI = 300
MAX_SIDE_PX = 5000  # a poster-sized page is rendered smaller, not at 300 dpi
PAGE_LIMIT_S = 60.0
WORKERS = 2
OCR_VERSION = "ocr-1"  # the text layout and the TSV parsing below; bump when they change
UNAVAILABLE = "OCR unavailable"
INSTALL = "apt-get install tesseract-ocr tesseract-ocr-eng; pip install 'longread[ocr]'"
_VERSION = re.compile(r"tesseract\s+v?(\S+)")
_TESSDATA = re.compile(r'"([^"]+)"')


@dataclass(frozen=True)
class Engine:
    """What OCR runs with (`identity`, part of every cache key) or why it cannot run."""

    binary: str | None
    identity: str
    missing: str | None = None  # e.g. "tesseract not found on PATH"

    @property
    def available(self) -> bool:
        return self.missing is None

    def unavailable_note(self) -> str:
        return f"{UNAVAILABLE}: {self.missing} ({INSTALL})"


@dataclass(frozen=True)
class PageText:
    """One page as Tesseract read it: its text and the mean word confidence (0-100)."""

    text: str
    confidence: float


def engine() -> Engine:
    """The engine on PATH now (probed once per binary and its modification time)."""
    if importlib.util.find_spec("PIL") is None:
        return Engine(None, "ocr:none:pillow", "Pillow is not installed")
    binary = shutil.which("tesseract")
    if binary is None:
        return Engine(None, "ocr:none:tesseract", "tesseract not found on PATH")
    try:
        stamp = os.stat(binary).st_mtime_ns
    except OSError:
        stamp = 0
    return _probe(binary, stamp)


@functools.cache
def _probe(binary: str, stamp: int) -> Engine:
    try:
        version = _run([binary, "--version"]).splitlines()[0]
        langs = _run([binary, "--list-langs"]).splitlines()
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        return Engine(None, "ocr:none:broken", f"tesseract does not run ({type(exc).__name__})")
    if LANGUAGE not in (line.strip() for line in langs[1:]):
        return Engine(None, "ocr:none:language", f"tesseract has no '{LANGUAGE}' language data")
    found = _VERSION.search(version)
    data = _traineddata_size(langs[0] if langs else "")
    number = found.group(1) if found else version.strip()
    return Engine(binary, f"{OCR_VERSION}:tesseract-{number}:{LANGUAGE}-{data}:{RENDER_DPI}dpi")


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    return done.stdout + done.stderr  # older versions print --version on stderr


def _traineddata_size(header: str) -> int:
    """The language data's size: a new tesseract-ocr-eng package is a new cache key."""
    folder = _TESSDATA.search(header)
    try:
        return (Path(folder.group(1)) / f"{LANGUAGE}.traineddata").stat().st_size if folder else 0
    except OSError:
        return 0


def render_page(page: Any) -> PageImage:
    """A pdfium page as a grayscale PNG at RENDER_DPI (capped), keyed by its pixels."""
    width, height = page.get_size()
    scale = min(RENDER_DPI / 72, MAX_SIDE_PX / max(width, height, 1))
    image = page.render(scale=scale, grayscale=True).to_pil().convert("L")
    pixels = hashlib.sha256(f"{image.width}x{image.height}\0".encode() + image.tobytes())
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return PageImage(page=0, png=out.getvalue(), sha256=pixels.hexdigest())


def page_key(image: PageImage, identity: str) -> str:
    """Everything a page's OCR text is a function of: its pixels and the engine's identity."""
    return hashlib.sha256(f"{image.sha256}\0{identity}".encode()).hexdigest()


def recognise_all(
    images: Sequence[PageImage], found: Mapping[str, PageText], ocr: Engine,
    *, limit_s: float = PAGE_LIMIT_S,
) -> dict[str, PageText | str]:
    """page key -> its text, or why it has none; the cached ones (`found`) are not run again."""
    todo = {page_key(image, ocr.identity): image for image in images}
    todo = {key: image for key, image in todo.items() if key not in found}
    results: dict[str, PageText | str] = dict(found)
    if todo:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            done = pool.map(lambda image: recognise(image.png, ocr, limit_s), todo.values())
            results.update(zip(todo, done, strict=True))
    return results


def recognise(png: bytes, ocr: Engine, limit_s: float = PAGE_LIMIT_S) -> PageText | str:
    """One page through `tesseract` (killed at `limit_s`), or a one-line reason it failed."""
    command = [ocr.binary or "tesseract", "stdin", "stdout", "-l", LANGUAGE, "--psm", "3", "tsv"]
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # two pages at once, one core each
    try:
        done = subprocess.run(command, input=png, capture_output=True, timeout=limit_s, env=env)
    except subprocess.TimeoutExpired:
        return f"OCR stopped after the {limit_s:g} s per-page time limit"
    except OSError as exc:
        return f"OCR failed ({exc.strerror or type(exc).__name__})"
    if done.returncode != 0:
        first = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        return f"OCR failed ({first[:200]})"
    return parse_tsv(done.stdout.decode("utf-8", "replace"))


def parse_tsv(tsv: str) -> PageText:
    """Tesseract's TSV as lines of words (a blank line between blocks) and their mean conf."""
    lines: dict[tuple[str, str, str], list[str]] = {}
    confidences: list[float] = []
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5" or not cells[11].strip():
            continue
        lines.setdefault((cells[2], cells[3], cells[4]), []).append(cells[11].strip())
        confidences.append(max(0.0, float(cells[10])))
    out: list[str] = []
    block = None
    for (number, _, _), words in lines.items():
        if block is not None and number != block:
            out.append("")
        out.append(" ".join(words))
        block = number
    mean = sum(confidences) / len(confidences) if confidences else 0.0
    return PageText("\n".join(out), round(mean, 1))


def with_text(
    sections: tuple[Section, ...], images: Sequence[PageImage], results: Mapping[str, Any],
    identity: str,
) -> tuple[tuple[Section, ...], list[str]]:
    """The sections with each recognised page's text and confidence; notes for the failures."""
    by_page = {image.page: results.get(page_key(image, identity)) for image in images}
    updated, notes = [], []
    for section in sections:
        got = by_page.get(section.page or 0)
        if isinstance(got, PageText) and got.text.strip():
            section = replace(section, text=got.text, ocr_confidence=got.confidence)
        elif isinstance(got, str):
            notes.append(f"page {section.page}: {got}")
        elif isinstance(got, PageText):
            notes.append(f"page {section.page}: OCR found no text")
        updated.append(section)
    return tuple(updated), notes


Fresh = dict[str, tuple[str, float]]  # page key -> (text, confidence): recognised in this run


def read_scans(
    extractions: Sequence[Extraction], ocr: Engine, cache: IngestCache | None,
    *, limit_s: float | None = None,
) -> tuple[list[Extraction], list[Fresh]]:
    """Each PDF's extraction with its rendered pages read (from the cache when known), and what
    was recognised afresh per file (cached by the caller once the secret scan has seen it)."""
    if not ocr.available:
        return [_unavailable(item, ocr) for item in extractions], [{} for _ in extractions]
    keys = {page_key(image, ocr.identity) for item in extractions for image in item.images}
    stored = cache.get_ocr(keys) if cache is not None else {}
    known = {key: PageText(text, conf) for key, (text, conf) in stored.items()}
    images = [image for item in extractions for image in item.images]
    results = recognise_all(images, known, ocr, limit_s=limit_s or PAGE_LIMIT_S)
    read, fresh = [], []
    for item in extractions:
        sections, failed = with_text(item.sections, item.images, results, ocr.identity)
        kept = [note for note in item.notes if not note.endswith(NO_TEXT_LAYER)]
        notes = (*page_notes(sections), *kept, *failed)
        read.append(replace(item, sections=sections, notes=notes, images=()))
        mine = {page_key(image, ocr.identity) for image in item.images} - set(known)
        fresh.append({key: (got.text, got.confidence) for key in sorted(mine)
                      if isinstance(got := results[key], PageText)})
    return read, fresh


def _unavailable(item: Extraction, ocr: Engine) -> Extraction:
    """A file with pages lacking a text layer notes why they were not read (once per file)."""
    if item.skip_reason is not None or all(s.has_text_layer for s in item.sections):
        return item
    return replace(item, notes=(*item.notes, ocr.unavailable_note()))
