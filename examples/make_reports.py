"""Writes the sample PDFs in reports/ (plain text pages, Helvetica), so they can be rebuilt
and read."""

from __future__ import annotations

import textwrap
from pathlib import Path

REPORTS = {
    "sync-design-review.pdf": [
        "Design review: syncing notes between devices\n\n"
        "Decision: notes-app keeps one SQLite file per device and syncs by exchanging change logs, "
        "not whole files. Each change carries the note id, a Lamport clock and the device id.\n\n"
        "Conflicts: when two devices edit the same note, the later clock wins and the losing body "
        "is "
        "kept as a conflict copy tagged 'conflict'. Deletes win over edits.",
        "Risks\n\n"
        "1. Clock skew does not matter because Lamport clocks do not read wall time.\n"
        "2. The change log grows without bound; compaction after 90 days is planned.\n"
        "3. Tags are synced as part of the note, so renaming a tag touches every note that has "
        "it.\n\n"
        "Owner: the storage team. Review date: 2026-03-02.",
    ],
    "search-quality-study.pdf": [
        "Search quality study, spring 2026\n\n"
        "We asked 40 users to find 10 notes each. With all-words matching, 83 percent of searches "
        "found the note on the first screen. Failed searches mostly used a synonym of a word in "
        "the note.\n\n"
        "Recommendation: keep all-words matching, add stemming for English plurals, and let tags "
        "count "
        "double as they do today.",
        "Appendix: timings\n\n"
        "Median search time over 5,000 notes was 4 milliseconds; the slowest query took 31 "
        "milliseconds. "
        "Ranking is not the bottleneck; loading every note from SQLite is.",
    ],
}


def pdf_bytes(pages: list[str]) -> bytes:
    """A minimal valid PDF: one Helvetica text stream per page, lines wrapped at 90 characters."""
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", font]
    kids = []
    for text in pages:
        lines = [
            wrapped for para in text.split("\n") for wrapped in (textwrap.wrap(para, 90) or [""])
        ]
        escaped = [
            line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines
        ]
        shown = " ".join(f"({line}) '" for line in escaped)
        stream = "BT /F1 10 Tf 14 TL 50 780 Td " + shown + " ET"
        content = stream.encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), content))
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] "
                       b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % len(objects))
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids), len(kids))
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
    out += trailer % (len(objects) + 1, xref)
    return bytes(out)


if __name__ == "__main__":
    folder = Path(__file__).parent / "reports"
    folder.mkdir(exist_ok=True)
    for name, pages in REPORTS.items():
        (folder / name).write_bytes(pdf_bytes(pages))
