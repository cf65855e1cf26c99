"""longread.analysis.api: the library surface the CLI, the MCP server and the web server share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from longread.analysis import api
from longread.analysis.config import Settings
from longread.engine.errors import BackendUnavailable
from longread.ingest.errors import UsageError
from tests.fakes import FakeBackend, register_fake
from tests.pdfs import pdf_bytes
from tests.trees import write_files

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A git repository with code, a redacted secret, a secrets file, a PDF and a symlink out."""
    root = tmp_path / "repo"
    write_files(root, {
        "app/store.py": "import sqlite3\n\nclass NoteStore:\n    def add(self, text):\n"
                        "        return text\n",
        "conf.py": f'AWS_SECRET_ACCESS_KEY = "{SECRET}"\nREGION = "eu"\n',
        ".env": "TOKEN=hunter2hunter2\n",
        "odd.txt": "one\x0ctwo\r\nthree\n",
        "docs/guide.pdf": pdf_bytes(["Welcome page", "Install with pip\nthen run it"]),
    })
    (tmp_path / "outside.txt").write_text("OUTSIDE-CONTENT\n")
    (root / "out").symlink_to(tmp_path / "outside.txt")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "."], check=True)
    return root


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", backend="fake")


@pytest.mark.slow
def test_read_source_numbers_lines_as_citations_do(corpus: Path, settings: Settings) -> None:
    source = api.read_source(corpus, "app/store.py", 3, 4, settings=settings)
    assert (source.start, source.end, source.total) == (3, 4, 5)
    assert source.to_text() == "3\tclass NoteStore:\n4\t    def add(self, text):\n"


def test_read_source_splits_at_newline_only(corpus: Path, settings: Settings) -> None:
    source = api.read_source(corpus, "odd.txt", settings=settings)
    assert source.lines == ("one\x0ctwo", "three")


def test_read_source_shows_the_redacted_text(corpus: Path, settings: Settings) -> None:
    source = api.read_source(corpus, "./conf.py", settings=settings)
    assert SECRET not in source.to_text() and source.lines[1] == 'REGION = "eu"'


def test_read_source_end_past_the_last_line_stops_there(corpus: Path, settings: Settings) -> None:
    source = api.read_source(corpus, "app/store.py", 4, 99, settings=settings)
    assert (source.start, source.end) == (4, 5)
    with pytest.raises(UsageError, match="has 5 lines"):
        api.read_source(corpus, "app/store.py", 6, settings=settings)


def test_read_source_reads_a_pdf_page(corpus: Path, settings: Settings) -> None:
    source = api.read_source(corpus, "docs/guide.pdf", page=2, settings=settings)
    assert source.pages == 2 and "Install with pip" in source.to_text()
    with pytest.raises(UsageError, match="PDF of 2 pages"):
        api.read_source(corpus, "docs/guide.pdf", settings=settings)
    with pytest.raises(UsageError, match="not a PDF"):
        api.read_source(corpus, "conf.py", page=1, settings=settings)


@pytest.mark.parametrize("path", ["../outside.txt", "app/../../outside.txt", "/etc/passwd",
                                  "~/outside.txt", "out", ".env", "missing.py", ""])
@pytest.mark.slow
def test_read_source_refuses_what_is_not_a_corpus_document(
    corpus: Path, settings: Settings, path: str
) -> None:
    with pytest.raises(api.NotInCorpus) as refused:
        api.read_source(corpus, path, settings=settings)
    assert "OUTSIDE-CONTENT" not in str(refused.value) and "hunter2" not in str(refused.value)


def test_read_source_names_why_a_skipped_file_is_not_shown(
    corpus: Path, settings: Settings
) -> None:
    with pytest.raises(api.NotInCorpus, match="symlink to outside the root"):
        api.read_source(corpus, "out", settings=settings)


def test_ask_with_a_warm_backend_leaves_it_open(
    corpus: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = register_fake(monkeypatch)
    backend = api.open_backend(settings)
    first = api.ask(corpus, "What does NoteStore.add return?", settings=settings,
                    backend=backend, use_cache=False)
    second = api.ask([corpus], ["Where is the region?"], settings=settings, backend=backend,
                     use_cache=False)
    assert built == [backend.engine] and not hasattr(built[0], "closed")
    assert isinstance(first, api.AskResult)
    assert second.answers[0].answer.question == "Where is the region?"
    assert [c.status for c in first.answers[0].citations] == ["ok", "unknown-path"]


def test_ask_without_a_backend_opens_and_closes_one(
    corpus: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[FakeBackend] = register_fake(monkeypatch)
    api.ask(corpus, "Where is the region?", settings=settings)
    assert len(built) == 1 and built[0].closed


def test_warm_backend_lends_one_backend_until_closed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[FakeBackend] = register_fake(monkeypatch)
    warm = api.WarmBackend(settings)
    seen = [warm.run(lambda session: session.engine) for _ in range(2)]
    assert seen == [built[0], built[0]] and not hasattr(built[0], "closed")
    warm.close()
    assert built[0].closed and warm.run(lambda session: session.engine) is built[1]


def test_warm_backend_whose_engine_died_is_replaced_on_the_next_job(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[FakeBackend] = register_fake(monkeypatch)
    warm = api.WarmBackend(settings)

    def dies(session: api.Backend) -> None:
        session.generate([])
        raise BackendUnavailable("engine died")

    with pytest.raises(BackendUnavailable):
        warm.run(dies)
    assert built[0].closed and warm.run(lambda session: session.engine) is built[1]


def test_pack_takes_one_path_or_several(corpus: Path, settings: Settings) -> None:
    one = api.pack(corpus, settings=settings)
    several = api.pack([corpus / "app", corpus / "conf.py"], settings=settings)
    assert "class NoteStore" in one.text and SECRET not in one.text
    assert {entry.path for entry in several.manifest.documents} == {"app/store.py", "conf.py"}


def test_every_name_in_all_resolves() -> None:
    assert all(getattr(api, name) is not None for name in api.__all__)


UNGUARDED = """
import sys
from pathlib import Path
import longread.ingest.redact_corpus as redact_corpus
import longread.ingest.tokens as tokens
from longread.analysis import api
redact_corpus.PARALLEL_CHARS = tokens.PARALLEL_CHARS = 0  # as on a corpus big enough for workers
pack = api.pack([Path(sys.argv[1])], settings=api.make_settings(cache_dir=sys.argv[2]))
print(pack.tokens)
"""


@pytest.mark.slow
def test_a_script_without_a_main_guard_packs_on_both_cores(tmp_path: Path) -> None:
    """The workers do not import the caller's script (no `if __name__ == "__main__":` here), so
    it is not run again in them: no traceback, no hang at exit, the same counts."""
    root = tmp_path / "corpus"
    root.mkdir()
    for n in range(12):
        body = "".join(f"def f{n}_{i}(x):\n    return x\n" for i in range(99))
        (root / f"m{n}.py").write_text(body)
    script = tmp_path / "pack_it.py"
    script.write_text(UNGUARDED)
    done = subprocess.run([sys.executable, str(script), str(root), str(tmp_path / "cache")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr[-3000:]
    serial = api.pack([root], settings=api.make_settings(cache_dir=str(tmp_path / "other")))
    assert int(done.stdout) == serial.tokens
