"""The ingest cache keeps files as the secret scan left them, keyed by all that shapes that text:
a warm run scans nothing, a secrets file is never opened, and a run without redaction takes from
the cache only what the scan found clean."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import longread.ingest.corpus as corpus_module
import longread.ingest.redact_corpus as redact_corpus
from longread.ingest.cache import FileStat, IngestCache, Scanned, scan_key
from longread.ingest.corpus import read_corpus
from longread.ingest.corpus_spec import CorpusSpec
from longread.ingest.discover import SourceFile
from longread.ingest.document import Section
from longread.ingest.redact import REDACTOR_VERSION
from longread.ingest.textfile import TEXT_READER, Extraction

VALUE = "Zq8Rk3Wx9Lp4Tn7Vb2Mc6"
SECRET = f'password = "{VALUE}"\n'


def _plant(root: Path, files: dict[str, str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)


def _stat(path: Path) -> FileStat:
    info = path.stat()
    return FileStat(str(path), info.st_size, info.st_mtime_ns, info.st_ino)


def test_text_scanned_by_another_redactor_or_reader_is_scanned_again(tmp_path: Path) -> None:
    """The stat index knows the file and the cache holds its plaintext as "clean", but under an
    older redactor and an older reader: neither is served, the text is scanned afresh."""
    _plant(tmp_path / "repo", {"settings.py": SECRET})
    path = tmp_path / "repo" / "settings.py"
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    plain = Scanned(Extraction((Section(SECRET),)))
    with IngestCache(tmp_path / "ingest.sqlite") as cache:
        cache.put_hashes({_stat(path): sha})
        cache.put_scanned({scan_key(sha, TEXT_READER, "redact-0", "settings.py"): plain,
                           scan_key(sha, "text-0", REDACTOR_VERSION, "settings.py"): plain})
        corpus = read_corpus(CorpusSpec.of([tmp_path / "repo"]), cache=cache)
    assert VALUE not in corpus.documents[0].text
    assert [(r.path, r.line) for r in corpus.redactions] == [("settings.py", 1)]


def test_a_warm_or_touched_file_is_not_scanned_again_and_reports_the_same_redactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plant(tmp_path / "repo", {"settings.py": SECRET, "clean.py": "x = 1\n"})
    scans: list[str] = []
    real = redact_corpus.redact_document
    monkeypatch.setattr(redact_corpus, "redact_document",
                        lambda doc: (scans.append(doc.path), real(doc))[1])
    with IngestCache(tmp_path / "ingest.sqlite") as cache:
        cold = read_corpus(CorpusSpec.of([tmp_path / "repo"]), cache=cache)
        assert sorted(scans) == ["clean.py", "settings.py"]
        warm = read_corpus(CorpusSpec.of([tmp_path / "repo"]), cache=cache)
        os.utime(tmp_path / "repo" / "settings.py")  # touched: read again, same content
        touched = read_corpus(CorpusSpec.of([tmp_path / "repo"]), cache=cache)
    assert sorted(scans) == ["clean.py", "settings.py"]  # nothing more
    assert warm == cold == touched and VALUE not in warm.documents[1].text
    assert [(r.path, r.line, r.kind) for r in warm.redactions] == [
        ("settings.py", 1, cold.redactions[0].kind)]


def test_secrets_files_are_never_opened_and_never_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plant(tmp_path / "repo", {".env": SECRET, "server.pem": SECRET, "app.py": "x = 1\n",
                               ".npmrc": f"//registry.npmjs.org/:_authToken={VALUE}\n"})
    opened: list[str] = []
    real = corpus_module._read_bytes

    def read_bytes(source: SourceFile, limit: int) -> object:
        opened.append(source.relpath)
        return real(source, limit)

    monkeypatch.setattr(corpus_module, "_read_bytes", read_bytes)
    with IngestCache(tmp_path / "ingest.sqlite") as cache:
        corpus = read_corpus(CorpusSpec.of([tmp_path / "repo"]), cache=cache)
        plain = read_corpus(CorpusSpec.of([tmp_path / "repo"]), cache=cache, redact=False)
    assert sorted(opened[:2]) == [".npmrc", "app.py"]  # a token config is judged by its text
    assert {s.path for s in corpus.skipped} == {".env", ".npmrc", "server.pem"}
    assert {d.path for d in plain.documents} == {".env", ".npmrc", "app.py", "server.pem"}
    assert plain.unclean == {".env", ".npmrc", "server.pem"}
    assert VALUE.encode() not in (tmp_path / "ingest.sqlite").read_bytes()


def test_a_run_without_redaction_takes_only_clean_files_from_the_cache(tmp_path: Path) -> None:
    """Same size, mtime and inode, new bytes: a file served from the cache shows the old ones."""
    _plant(tmp_path / "repo", {"settings.py": "x = 0\n" + SECRET, "clean.py": "x = 1\n"})
    with IngestCache(tmp_path / "ingest.sqlite") as cache:
        read_corpus(CorpusSpec.of([tmp_path / "repo"]), cache=cache)
        for name in ("settings.py", "clean.py"):
            path = tmp_path / "repo" / name
            before = path.stat()
            with open(path, "r+b") as handle:
                handle.write(b"y")
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        plain = read_corpus(CorpusSpec.of([tmp_path / "repo"]), cache=cache, redact=False)
        redacted = read_corpus(CorpusSpec.of([tmp_path / "repo"]), cache=cache)
    texts = {doc.path: doc.text for doc in plain.documents}
    assert texts == {"clean.py": "x = 1\n", "settings.py": "y = 0\n" + SECRET}
    assert plain.redactions == () and plain.unclean == {"settings.py"}
    assert VALUE not in redacted.documents[1].text  # and the plaintext run cached none of it
