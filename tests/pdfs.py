"""Real PDFs written by hand for tests: text pages, image-only pages (no text layer), encrypted."""

from __future__ import annotations

import io
from collections.abc import Sequence

# A 1x1 grey image: a page that draws only this has no text layer, like a scan.
_IMAGE = b"<< /Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray " \
         b"/BitsPerComponent 8 /Length 1 >>\nstream\n\x80\nendstream"


def _escape(text: str) -> bytes:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("latin-1")


def _content(text: str | None) -> bytes:
    if text is None:
        body = b"q 100 0 0 100 72 600 cm /Im1 Do Q"
    else:
        lines = [b"(" + _escape(line) + b") Tj T*" for line in text.split("\n")]
        body = b"BT /F1 12 Tf 14 TL 72 720 Td " + b" ".join(lines) + b" ET"
    return b"<< /Length %d >>\nstream\n" % len(body) + body + b"\nendstream"


def pdf_bytes(pages: Sequence[str | None]) -> bytes:
    """A valid PDF, one page per item: a string is typeset as text, None draws only an image."""
    count = len(pages)
    kids = " ".join(f"{5 + 2 * i} 0 R" for i in range(count)).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        _IMAGE,
    ]
    for index, text in enumerate(pages):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R >> /XObject << /Im1 4 0 R >> >> >>" % (6 + 2 * index)
        )
        objects.append(_content(text))
    return _assemble(objects)


def _assemble(objects: list[bytes]) -> bytes:
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()


def encrypted_pdf_bytes(pages: Sequence[str | None], *, user_password: str) -> bytes:
    """`pdf_bytes(pages)` encrypted with AES-256 by pypdf's writer."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(pages))))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
