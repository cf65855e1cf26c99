"""The secret scan's cached "clean" verdicts hold only for the text they were given."""

from __future__ import annotations

from hashlib import sha256
from pathlib import Path

from longread.ingest.cache import IngestCache
from longread.ingest.document import Document, Section
from longread.ingest.redact import REDACTOR_VERSION
from longread.ingest.scrub import scrub
from longread.ingest.textfile import TEXT_READER

SECRET = 'password = "Zq8Rk3Wx9Lp4Tn7Vb2Mc6"\n'


def test_a_clean_verdict_from_another_reader_does_not_skip_the_scan(tmp_path: Path) -> None:
    """Same bytes, same name, but a reader that made other text (here: an older one) said clean:
    the text this reader made is scanned and its secret redacted."""
    doc = Document("settings.py", "code", "f" * 64, len(SECRET), (Section(SECRET),), "python")
    with IngestCache(tmp_path / "ingest.sqlite") as cache:
        # what the cache held before verdicts named their reader, and one by an older reader
        cache.put_clean(REDACTOR_VERSION, [f"{doc.sha256}:settings.py",
                                           f"{doc.sha256}:text-1:settings.py"])
        result = scrub((doc,), cache=cache)
    assert "Zq8Rk3Wx9Lp4Tn7Vb2Mc6" not in result.documents[0].text
    assert [r.line for r in result.redactions] == [1]


def test_a_clean_verdict_under_this_reader_is_reused(tmp_path: Path) -> None:
    """A verdict names the content, the reader and the file name (hashed: the cache keeps no
    name, which may hold a secret)."""
    doc = Document("settings.py", "code", "e" * 64, len(SECRET), (Section(SECRET),), "python")
    name = sha256(b"settings.py").hexdigest()
    with IngestCache(tmp_path / "ingest.sqlite") as cache:
        cache.put_clean(REDACTOR_VERSION, [f"{doc.sha256}:{TEXT_READER}:{name}"])
        result = scrub((doc,), cache=cache)
    assert result.documents == (doc,) and result.redactions == ()
