from __future__ import annotations

import codecs

import pytest

from longread.ingest.textfile import read_text


def only_text(data: bytes) -> str:
    extraction = read_text(data)
    assert extraction.skip_reason is None
    (section,) = extraction.sections
    assert section.page is None
    return section.text


def test_utf8_with_and_without_bom_reads_plainly() -> None:
    assert only_text("é = 1\r\n".encode()) == "é = 1\n"
    assert only_text(codecs.BOM_UTF8 + "é\n".encode()) == "é\n"
    assert read_text("é".encode()).notes == ()


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_with_bom_is_decoded_and_noted(encoding: str) -> None:
    bom = codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE
    extraction = read_text(bom + "naïve\r\nline two\r".encode(encoding))
    assert extraction.sections[0].text == "naïve\nline two\r"  # a lone \r is no break (sed's count)
    assert extraction.notes == ("decoded as utf-16 (byte order mark)",)


def test_legacy_encoding_is_guessed_and_noted() -> None:
    data = ("Grüße aus Köln, schöne Größe. " * 20).encode("cp1252")
    extraction = read_text(data)
    assert extraction.skip_reason is None
    assert extraction.notes and extraction.notes[0].startswith("not UTF-8: decoded as")
    assert "K" in extraction.sections[0].text


def test_invalid_utf8_never_fails() -> None:
    extraction = read_text(b"valid start\n\xff\xfe\xfa broken\n" + b"ascii tail\n" * 50)
    assert extraction.skip_reason is None
    assert extraction.notes
    assert "valid start" in extraction.sections[0].text


def test_binary_is_refused_with_a_reason() -> None:
    assert read_text(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").skip_reason == "binary (NUL bytes)"
    assert read_text(bytes(range(1, 9)) * 50).skip_reason == "binary (control characters)"


def test_empty_file_is_an_empty_section() -> None:
    assert only_text(b"") == ""


def test_short_western_text_is_cp1252_not_a_lookalike_codepage() -> None:
    extraction = read_text("caf\xe9 cr\xe8me br\xfbl\xe9e\n".encode("latin-1"))
    assert extraction.sections[0].text == "café crème brûlée\n"
    assert extraction.notes == ("not UTF-8: decoded as cp1252",)


def test_central_european_text_keeps_its_codepage() -> None:
    text = "Příliš žluťoučký kůň úpěl ďábelské ódy a tohle je dlouhý český text.\n"
    assert read_text(text.encode("cp1250")).sections[0].text == text


@pytest.mark.parametrize("text", ["café", "café crème\n", "naïve façade", "crème brûlée"])
def test_short_latin1_never_decodes_as_an_exotic_codec(text: str) -> None:
    extraction = read_text(text.encode("latin-1"))
    assert extraction.sections[0].text == text
    assert extraction.notes == ("not UTF-8: decoded as cp1252",)


def test_binary_past_the_head_is_found() -> None:
    header = b"<?xpacket begin=''?>\n" + b"<xmp:CreatorTool>Illustrator</xmp:CreatorTool>\n" * 400
    assert len(header) > 8192
    assert read_text(header + b"\x00stream").skip_reason == "binary (NUL bytes)"
    controls = bytes(range(1, 9)) * 16 * 1024  # 128 KiB, no NUL
    prose = b"plain prose line\n" * 60_000  # ~1 MiB each side
    assert read_text(prose + controls + prose).skip_reason == "binary (control characters)"
    assert read_text(codecs.BOM_UTF8 + b"text\0more").skip_reason == "binary (NUL bytes)"


def test_form_feeds_and_ansi_escapes_are_text() -> None:
    text = "Page one\n\x0c\x1b[1;31mred\x1b[0m\tand a vertical tab\x0b\n" * 2000
    assert only_text(text.encode()) == text
