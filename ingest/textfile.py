"""Bytes of a text file -> one `Section` of str, with a sane encoding fallback and binary refusal.

Order: UTF-8 (BOM or not), UTF-32/UTF-16 with a BOM, charset-normalizer's best guess, latin-1.
Anything but plain UTF-8 is noted, so a reader of the manifest knows the text was guessed.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from longread.ingest.document import Section

TEXT_READER = "text-2"
SNIFF_BYTES = 8192
MAX_CONTROL_RATIO = 0.10
_GUESS_SAMPLE_BYTES = 512 * 1024
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# C0 controls that text files legitimately contain: tab, newline, vertical tab, form feed, CR, ESC.
_TEXT_CONTROLS = frozenset(b"\t\n\x0b\x0c\r\x1b")


@dataclass(frozen=True)
class Extraction:
    """What reading one file gave: its sections and notes, or the reason it cannot be read."""

    sections: tuple[Section, ...] = ()
    notes: tuple[str, ...] = ()
    skip_reason: str | None = None


def read_text(data: bytes) -> Extraction:
    """Decode `data` as text (newlines normalised to "\\n"), or refuse it as binary."""
    bom_encoding = _bom_encoding(data)
    if bom_encoding is None:
        refusal = binary_reason(data)
        if refusal is not None:
            return Extraction(skip_reason=refusal)
    text, note = _decode(data, bom_encoding)
    notes = () if note is None else (note,)
    return Extraction(sections=(Section(normalise_newlines(text)),), notes=notes)


def binary_reason(data: bytes) -> str | None:
    """Why the start of `data` looks binary (a NUL byte, too many control bytes), or None."""
    head = data[:SNIFF_BYTES]
    if b"\0" in head:
        return "binary (NUL bytes)"
    if not head:
        return None
    controls = sum(1 for byte in head if byte < 32 and byte not in _TEXT_CONTROLS)
    if controls / len(head) > MAX_CONTROL_RATIO:
        return "binary (control characters)"
    return None


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _bom_encoding(data: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def _decode(data: bytes, bom_encoding: str | None) -> tuple[str, str | None]:
    """The text and a note when it was not plain UTF-8."""
    if bom_encoding is not None:
        try:
            return data.decode(bom_encoding), _note_unless_utf8(bom_encoding)
        except UnicodeDecodeError:
            return data.decode(bom_encoding, errors="replace"), f"invalid {bom_encoding}: replaced"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    guess = _guess_encoding(data)
    if guess is None:
        return data.decode("latin-1"), "not UTF-8: decoded as latin-1"
    if guess == "utf_8":
        return data.decode("utf-8", errors="replace"), "invalid UTF-8 bytes replaced"
    return data.decode(guess, errors="replace"), f"not UTF-8: decoded as {guess}"


def _note_unless_utf8(encoding: str) -> str | None:
    return None if encoding == "utf-8-sig" else f"decoded as {encoding} (byte order mark)"


def _guess_encoding(data: bytes) -> str | None:
    """charset-normalizer's guess, except that Western cp1252 wins among single-byte codepages
    when it reads every non-ASCII byte as a letter: short texts otherwise come out as cp125x
    look-alikes ("crčme" for "crème")."""
    from charset_normalizer import from_bytes

    sample = data[:_GUESS_SAMPLE_BYTES]
    best = from_bytes(sample).best()
    if best is None or (_single_byte(best.encoding) and _reads_as_letters(sample, "cp1252")):
        return "cp1252" if _reads_as_letters(sample, "cp1252") else None
    return best.encoding


def _single_byte(encoding: str) -> bool:
    return encoding.startswith(("cp12", "cp8", "iso8859", "latin", "mac", "koi8"))


def _reads_as_letters(data: bytes, encoding: str) -> bool:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return all(char.isalpha() for char in text if ord(char) > 127)
