from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import longread.ingest.corpus as corpus_module
from longread.ingest.cache import IngestCache
from longread.ingest.corpus import Corpus, read_corpus
from longread.ingest.corpus_spec import CorpusSpec

if TYPE_CHECKING:
    from tests.ingest.conftest import Build

CORPUS = Path("/work/shared/corpora/pdf")


@pytest.fixture
def repo(tmp_path: Path, text_pdf: bytes, build: Build) -> Path:
    root = tmp_path / "repo"
    build.repo(root)
    build.files(root, {
        ".gitignore": "*.log\n",
        "README.md": "# Demo\r\nSee app.\r\n",
        "app/main.py": "def main() -> None:\n    print('hi')\n",
        "app/fake.py": b"\x7fELF\x00\x00binary",
        "notes/latin.txt": "caf\xe9 cr\xe8me br\xfbl\xe9e, d\xe9j\xe0 vu".encode("latin-1") * 5,
        "docs/report.pdf": text_pdf,
        "docs/locked.pdf": build.encrypted_pdf(["secret"], user_password="pw"),
        "docs/broken.pdf": b"%PDF-1.4\nbroken",
        "run.log": "ignored\n",
    })
    build.commit(root)
    return root


def by_path(corpus: Corpus) -> dict[str, object]:
    return {d.path: d for d in corpus.documents} | {s.path: s.reason for s in corpus.skipped}


@pytest.mark.slow
def test_documents_kinds_languages_and_skips(repo: Path) -> None:
    corpus = read_corpus(CorpusSpec.of([repo]))
    assert [d.path for d in corpus.documents] == [
        ".gitignore", "README.md", "app/main.py", "docs/report.pdf", "notes/latin.txt"
    ]
    docs = {d.path: d for d in corpus.documents}
    assert (docs["app/main.py"].kind, docs["app/main.py"].language) == ("code", "python")
    assert (docs["README.md"].kind, docs["README.md"].text) == ("text", "# Demo\nSee app.\n")
    assert docs["docs/report.pdf"].kind == "pdf"
    assert [s.page for s in docs["docs/report.pdf"].sections] == [1, 2]
    assert docs["notes/latin.txt"].notes
    assert {s.path: s.reason.split(" (")[0] for s in corpus.skipped} == {
        "app/fake.py": "binary",
        "docs/broken.pdf": "unreadable PDF",
        "docs/locked.pdf": "encrypted",
    }


@pytest.mark.slow
def test_warm_run_only_stats(repo: Path, tmp_path: Path) -> None:
    """Same size, mtime and inode, new bytes: a warm run that opened the file would see them."""
    progress: list[tuple[str, int, int | None]] = []
    with IngestCache(tmp_path / "ingest.sqlite") as cache:
        cold = read_corpus(CorpusSpec.of([repo]), cache=cache)
        target = repo / "app" / "main.py"
        before = target.stat()
        with open(target, "r+b") as handle:
            handle.write(b"DEF")
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
        warm = read_corpus(CorpusSpec.of([repo]), cache=cache,
                           progress=lambda *event: progress.append(event))
        assert warm == cold
        assert progress[0] == ("reading", 0, 8)
        assert progress[-1] == ("reading", 8, 8)
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns + 1))
        changed = read_corpus(CorpusSpec.of([repo]), cache=cache)
    main = next(d for d in changed.documents if d.path == "app/main.py")
    assert main.text.startswith("DEF main()")
    assert main.sha256 != next(d for d in cold.documents if d.path == "app/main.py").sha256


def test_skip_verdicts_are_cached(repo: Path, tmp_path: Path) -> None:
    with IngestCache(tmp_path / "ingest.sqlite") as cache:
        cold = read_corpus(CorpusSpec.of([repo]), cache=cache)
        broken = repo / "docs" / "broken.pdf"
        before = broken.stat()
        broken.write_bytes(b"%PDF-1.4\nBROKEN")
        os.utime(broken, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert read_corpus(CorpusSpec.of([repo]), cache=cache).skipped == cold.skipped


@pytest.mark.slow
def test_cached_and_uncached_reads_agree(repo: Path, tmp_path: Path) -> None:
    plain = read_corpus(CorpusSpec.of([repo]))
    with IngestCache(tmp_path / "ingest.sqlite") as cache:
        assert read_corpus(CorpusSpec.of([repo]), cache=cache) == plain
    with IngestCache(tmp_path / "ingest.sqlite") as reopened:
        assert read_corpus(CorpusSpec.of([repo]), cache=reopened) == plain


def test_identical_content_is_extracted_once(
    tmp_path: Path, build: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    build.files(tmp_path / "root", {"a.pdf": build.pdf(["same"]), "b.pdf": build.pdf(["same"])})
    extracted: list[tuple[str, bytes]] = []
    real = corpus_module.extract_files
    monkeypatch.setattr(corpus_module, "extract_files",
                        lambda items, **kw: (extracted.extend(items), real(items, **kw))[1])
    with IngestCache(tmp_path / "ingest.sqlite") as cache:
        corpus = read_corpus(CorpusSpec.of([tmp_path / "root"]), cache=cache)
    assert len({d.sha256 for d in corpus.documents}) == 1 and len(corpus.documents) == 2
    assert len(extracted) == 1


def test_unreadable_file_is_named(tmp_path: Path, build: Build) -> None:
    build.files(tmp_path, {"ok.txt": "fine", "locked.txt": "private"})
    (tmp_path / "locked.txt").chmod(0)
    try:
        if os.access(tmp_path / "locked.txt", os.R_OK):
            pytest.skip("running as root: mode 000 does not stop reads")
        corpus = read_corpus(CorpusSpec.of([tmp_path]))
    finally:
        (tmp_path / "locked.txt").chmod(0o644)
    assert {s.path: s.reason for s in corpus.skipped} == {
        "locked.txt": "unreadable (Permission denied)"
    }


@pytest.mark.slow
@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared PDF corpus is not on this machine")
def test_real_pdf_folder_reads_without_crashing(tmp_path: Path) -> None:
    corpus = read_corpus(CorpusSpec.of([CORPUS]))
    pdfs = {p.name for p in CORPUS.glob("*.pdf")}
    named = {d.path for d in corpus.documents} | {s.path for s in corpus.skipped}
    assert pdfs <= named
    assert all(s.reason for s in corpus.skipped)
