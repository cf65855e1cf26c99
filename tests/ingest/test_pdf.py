from __future__ import annotations

import collections
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from longread.ingest.pdf import ENCRYPTED, read_pdf

if TYPE_CHECKING:
    from tests.ingest.conftest import Build

READERS = ["pdfium", "pypdf"]
CORPUS = Path("/work/shared/corpora/pdf")


@pytest.mark.parametrize("reader", READERS)
def test_text_pdf_gives_one_section_per_page(text_pdf: bytes, reader: str) -> None:
    extraction = read_pdf(text_pdf, reader=reader)
    assert extraction.skip_reason is None
    assert [s.page for s in extraction.sections] == [1, 2]
    assert extraction.sections[0].text == "Alpha page one\nsecond line"
    assert extraction.sections[1].text == "Beta page two"
    assert all(s.has_text_layer for s in extraction.sections)
    assert extraction.notes == ()


@pytest.mark.parametrize("reader", READERS)
def test_image_only_pages_are_flagged(reader: str, build: Build) -> None:
    extraction = read_pdf(build.pdf(["text", None, None]), reader=reader)
    assert [s.has_text_layer for s in extraction.sections] == [True, False, False]
    assert extraction.notes == ("pages 2-3 have no text layer (scanned?)",)


@pytest.mark.parametrize("reader", READERS)
def test_user_password_is_skipped_as_encrypted(reader: str, build: Build) -> None:
    data = build.encrypted_pdf(["classified"], user_password="hunter2")
    assert read_pdf(data, reader=reader).skip_reason == ENCRYPTED


@pytest.mark.parametrize("reader", READERS)
def test_empty_user_password_is_tried(reader: str, build: Build) -> None:
    extraction = read_pdf(build.encrypted_pdf(["open to all"], user_password=""), reader=reader)
    assert extraction.skip_reason is None
    assert extraction.sections[0].text == "open to all"


@pytest.mark.parametrize("reader", READERS)
def test_broken_pdfs_are_skipped_with_a_reason(text_pdf: bytes, reader: str) -> None:
    garbage = read_pdf(b"%PDF-1.4\nnot a pdf at all", reader=reader)
    assert garbage.skip_reason is not None
    assert garbage.skip_reason.startswith("unreadable PDF (")
    assert "\n" not in garbage.skip_reason
    truncated = read_pdf(text_pdf[: len(text_pdf) // 2], reader=reader)
    assert truncated.skip_reason or truncated.sections


def test_pypdf_warnings_become_notes_not_output(
    text_pdf: bytes, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    bad_xref = text_pdf.replace(b"startxref\n", b"startxref\n1")
    extraction = read_pdf(bad_xref, reader="pypdf")
    assert [s.text for s in extraction.sections] == ["Alpha page one\nsecond line", "Beta page two"]
    assert any(note.startswith("reader warning: ") for note in extraction.notes)
    assert capfd.readouterr() == ("", "")
    assert not caplog.records


def test_time_limit_stops_extraction(text_pdf: bytes) -> None:
    assert read_pdf(text_pdf, time_limit_s=0).skip_reason == "time limit of 0 s exceeded"


@pytest.mark.slow
@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared PDF corpus is not on this machine")
def test_every_real_pdf_yields_text_or_a_named_skip() -> None:
    outcomes: collections.Counter[str] = collections.Counter()
    for path in sorted(CORPUS.glob("*.pdf")):
        extraction = read_pdf(path.read_bytes())
        if extraction.skip_reason is not None:
            assert extraction.skip_reason.strip() and "\n" not in extraction.skip_reason
            outcomes["skipped"] += 1
        else:
            assert [s.page for s in extraction.sections] == list(
                range(1, len(extraction.sections) + 1)
            )
            outcomes["text" if any(s.text.strip() for s in extraction.sections) else "blank"] += 1
    assert outcomes["text"] > outcomes["skipped"] > 0
