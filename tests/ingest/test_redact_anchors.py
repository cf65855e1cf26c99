"""The one-pass anchor search marks exactly the lines a search per anchor marks."""

from __future__ import annotations

import random

from longread.ingest.redact import _candidate_starts
from longread.ingest.secret_patterns import DOC_ANCHORS, UNANCHORED


def _per_anchor(raw: bytes) -> list[int]:
    """The reference: every line holding an anchor (any case), a long quoted run or a
    Twilio-shaped id."""
    lowered = raw.lower()
    starts = set()
    for anchor in DOC_ANCHORS:
        index = lowered.find(anchor)
        while index >= 0:
            starts.add(lowered.rfind(b"\n", 0, index) + 1)
            index = lowered.find(anchor, index + 1)
    for shape in UNANCHORED:
        starts.update(raw.rfind(b"\n", 0, m.start()) + 1 for m in shape.finditer(raw))
    return sorted(starts)


def test_every_anchor_in_any_case_next_to_anything_marks_its_line() -> None:
    rng = random.Random(11)
    pieces = [*DOC_ANCHORS, *(a.upper() for a in DOC_ANCHORS), b"\n", b"\n", b" ", b"x = 1",
              "café".encode(), "ключ".encode(), b"\xff\xfe", b'"' + b"A" * 24 + b'"', b"to", b"ken",
              b"AC" + b"0f" * 16, b"SK" + b"9a" * 16]
    for _ in range(300):
        raw = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 60)))
        assert _candidate_starts(raw) == _per_anchor(raw), raw


def test_a_line_without_an_anchor_is_not_scanned() -> None:
    raw = b"def add(a, b):\n    return a + b\npassword = 'x'\n"
    assert _candidate_starts(raw) == [raw.index(b"password")]
