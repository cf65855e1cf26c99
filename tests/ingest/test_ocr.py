"""OCR pieces below the CLI: the engine probe, Tesseract's TSV, rendering in the killable worker."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import longread.ingest.ocr as ocr
from longread.ingest.document import PageImage
from longread.ingest.isolation import extract_pdfs
from longread.ingest.ocr import engine, page_key, parse_tsv
from longread.ingest.pdf import read_pdf
from tests.pdfs import pdf_bytes
from tests.scans import scanned_pdf
from tests.tesseract import need_tesseract

pytestmark = pytest.mark.slow  # tesseract runs: a second or more each

_HEADER = "\t".join(["level", "page_num", "block_num", "par_num", "line_num", "word_num", "left",
                      "top", "width", "height", "conf", "text"])


def _word(block: int, line: int, conf: float, text: str) -> str:
    return f"5\t1\t{block}\t1\t{line}\t1\t0\t0\t9\t9\t{conf}\t{text}"


def test_tsv_words_become_lines_with_a_blank_line_between_blocks_and_a_mean_confidence() -> None:
    rows = [_HEADER, "1\t1\t0\t0\t0\t0\t0\t0\t9\t9\t-1\t", _word(1, 1, 90, "Harbour"),
            _word(1, 1, 80, "office"), _word(1, 2, 70, "1284"), _word(2, 1, 100, "Next"),
            _word(2, 1, -1, " ")]
    read = parse_tsv("\n".join(rows) + "\n")
    assert read.text == "Harbour office\n1284\n\nNext"
    assert read.confidence == 85.0


def test_without_tesseract_on_path_the_engine_says_why_and_has_its_own_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    missing = engine()
    assert not missing.available and missing.missing == "tesseract not found on PATH"
    assert missing.unavailable_note().startswith("OCR unavailable: tesseract not found on PATH (")
    monkeypatch.undo()
    need_tesseract()
    found = engine()
    assert found.available and found.identity != missing.identity
    assert found.identity.startswith("ocr-1:tesseract-") and ":eng-" in found.identity


def test_the_pdf_worker_renders_only_pages_without_a_text_layer_and_only_when_asked() -> None:
    data = pdf_bytes(["typed text", None])
    [plain] = extract_pdfs([data], time_limit_s=30.0)
    [drawn] = extract_pdfs([data], time_limit_s=30.0, render=True)
    assert plain.images == () and [image.page for image in drawn.images] == [2]
    assert drawn.images[0].png.startswith(b"\x89PNG") and drawn == plain


def test_the_same_scanned_page_in_two_files_has_one_cache_key() -> None:
    [one] = extract_pdfs([scanned_pdf(["Page A", "Page B"])], time_limit_s=30.0, render=True)
    [two] = extract_pdfs([scanned_pdf(["Page B"])], time_limit_s=30.0, render=True)
    assert page_key(one.images[1], "id") == page_key(two.images[0], "id")
    assert page_key(one.images[0], "id") != page_key(one.images[1], "id")
    assert page_key(one.images[1], "id") != page_key(one.images[1], "other id")


def test_drawing_pages_for_ocr_has_its_own_time_limit_and_never_cuts_the_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ocr, "render_page", lambda page: time.sleep(0.6) or PageImage(0, b"", "x"))
    read = read_pdf(scanned_pdf(["one", "two", "three"]), time_limit_s=1.0, render=True)
    assert [s.page for s in read.sections] == [1, 2, 3]
    assert [image.page for image in read.images] == [1, 2]
    assert "page 3 has not been drawn for OCR: time limit of 1 s exceeded" in read.notes
