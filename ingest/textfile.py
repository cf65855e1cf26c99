"""Bytes of a text file -> one `Section` of str, with a sane encoding fallback and binary refusal.

Binary: a NUL byte anywhere (one memchr over the whole file), or too many control bytes in any of
up to `SAMPLE_WINDOWS` windows spread from head to tail, so a text header over a binary body (an
Illustrator `.ai` file) is caught without counting every byte of a 10 MiB file.
Order: UTF-8 (BOM or not), UTF-32/UTF-16 with a BOM, charset-normalizer's guess among common
encodings, cp1252, latin-1. Anything but plain UTF-8 is noted, so a reader of the manifest knows
the text was guessed. An earlier longread pack found in the corpus is refused, never packed again.
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass, field

from longread.ingest.document import PageImage, Section
from longread.ingest.styles import STYLES

WINDOW_BYTES = 4096
SAMPLE_WINDOWS = 32
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
_BINARY_CONTROLS = bytes(byte for byte in range(32) if byte not in b"\t\n\x0b\x0c\r\x1b")
# How an earlier pack starts, in each format (text files are refused when they start so).
_PACK_HEADERS = tuple(style.header_open(with_tree=False) for style in STYLES.values())
# Encodings a guess may name; anything else (cp1006, utf_16_be without a BOM) is a misfire on
# short text, which then reads as cp1252 (or latin-1, which decodes every byte).
_COMMON_GUESSES = frozenset(
    {"utf_8", "cp874", "koi8_r", "koi8_u", "cp932", "shift_jis", "euc_jp", "euc_jis_2004",
     "gb2312", "gbk", "gb18030", "big5", "cp950", "euc_kr", "cp949"}
    | {f"cp{n}" for n in range(1250, 1259)}
    | {"latin_1", *(f"iso8859_{n}" for n in range(2, 17))}
)
# The reader's cache identity: bump the number when a rule changes; the pack header is part of it.
TEXT_READER = "text-4." + hashlib.sha256("".join(_PACK_HEADERS).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Extraction:
    """What reading one file gave: its sections and notes, or the reason it cannot be read."""

    sections: tuple[Section, ...] = ()
    notes: tuple[str, ...] = ()
    skip_reason: str | None = None
    # PDF pages without a text layer, rendered for OCR in the worker (never cached)
    images: tuple[PageImage, ...] = field(default=(), compare=False, repr=False)


def read_text(data: bytes) -> Extraction:
    """Decode `data` as text (newlines normalised to "\\n"), or refuse it as binary or a pack."""
    bom_encoding = _bom_encoding(data)
    if bom_encoding in (None, "utf-8-sig"):
        refusal = binary_reason(data)
        if refusal is not None:
            return Extraction(skip_reason=refusal)
    text, note = _decode(data, bom_encoding)
    text = normalise_newlines(text)
    if text.startswith(_PACK_HEADERS):
        return Extraction(skip_reason="an earlier longread pack (not packed again)")
    return Extraction(sections=(Section(text),), notes=() if note is None else (note,))


def binary_reason(data: bytes) -> str | None:
    """Why `data` looks binary (a NUL byte anywhere, a window thick with control bytes), or None."""
    if b"\0" in data:
        return "binary (NUL bytes)"
    for window in _windows(data):
        controls = len(window) - len(window.translate(None, _BINARY_CONTROLS))
        if controls > MAX_CONTROL_RATIO * len(window):
            return "binary (control characters)"
    return None


def _windows(data: bytes) -> list[bytes]:
    """Every window of a small file; else `SAMPLE_WINDOWS` evenly spaced, head and tail included."""
    if len(data) <= WINDOW_BYTES:
        return [data] if data else []
    last = len(data) - WINDOW_BYTES
    count = min(SAMPLE_WINDOWS, -(-len(data) // WINDOW_BYTES))
    starts = sorted({last * index // (count - 1) for index in range(count)})
    return [data[start:start + WINDOW_BYTES] for start in starts]


def normalise_newlines(text: str) -> str:
    """"\r\n" becomes "\n"; a lone "\r" stays, since git, sed and `lines.split_lines` count
    "\n" only, and a line the pack numbers must be the line they show."""
    return text.replace("\r\n", "\n")


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
    """charset-normalizer's guess when it names a common encoding, except that Western cp1252
    wins among single-byte codepages when it reads every non-ASCII byte as a letter: short texts
    otherwise come out as look-alikes ("crčme", "cafﻠ" for "café crème")."""
    from charset_normalizer import from_bytes

    sample = data[:_GUESS_SAMPLE_BYTES]
    best = from_bytes(sample).best()
    guess = None if best is None or best.encoding not in _COMMON_GUESSES else best.encoding
    if guess is None or (_single_byte(guess) and _reads_as_letters(sample, "cp1252")):
        return "cp1252" if _decodes(sample, "cp1252") else None
    return guess


def _single_byte(encoding: str) -> bool:
    return encoding.startswith(("cp12", "cp8", "iso8859", "latin", "koi8"))


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _reads_as_letters(data: bytes, encoding: str) -> bool:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return all(char.isalpha() for char in text if ord(char) > 127)
