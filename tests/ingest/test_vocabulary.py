"""A document's vocabulary spares ranking the scans for terms the text cannot hold, never changes a
score, is kept in the ingest cache by the text's hash, and never for a text holding a secret."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

import longread.ingest.vocabulary as vocabulary_module
from longread.analysis.cli.commands import cli
from longread.ingest.document import Document, Section
from longread.ingest.rank import lexical_scores, query_terms
from longread.ingest.vocabulary import held, vocabulary

TRICKY = {
    "camel.py": "def parseExpr(x):\n    return tesTest(x) + ioError + IOError\n",
    "snake.py": "include_vars = load_include_vars(ansible_facts)  # KeyError 2308\n",
    "turkish.txt": "İstanbul Session.execute() raised KeyError: 'ansible_facts'\n",
    "greek.md": "ΣΊΣΥΦΟΣ parses the session cache; Σσς\n",
    "short.txt": "io ion IO copy.py py lib/usr\n",
    "none.txt": "nothing relevant at all\n",
}
QUERIES = [
    "How does parseExpr handle IOError?",
    "Session.execute() raises KeyError when include_vars is cached (line 2308)",
    "istanbul σίσυφος session test io py",
]


def doc(path: str, text: str) -> Document:
    kind = "code" if path.endswith(".py") else "text"
    return Document(path=path, kind=kind, sha256="0" * 64, size=len(text),
                    sections=(Section(text),), language="python" if kind == "code" else None)


@pytest.mark.parametrize("query", QUERIES)
def test_a_vocabulary_never_changes_a_lexical_score(query: str) -> None:
    docs = [doc(path, text) for path, text in TRICKY.items()]
    terms = query_terms(query)
    plain = lexical_scores(docs, terms)
    spared = lexical_scores(docs, terms, lambda d: vocabulary(d.text))
    assert spared == plain
    assert list(spared) == list(plain)
    assert any(len(held(vocabulary(d.text), terms)) < len(terms) for d in docs)  # it does rule out


def test_a_term_with_a_character_no_word_has_is_never_ruled_out() -> None:
    assert held("abc\nxyz", ["abc", "q\u0307", "nope"]) == ["abc", "q\u0307"]


def corpus(root: Path, secret: str = "") -> Path:
    root.mkdir()
    for n in range(30):
        (root / f"mod{n}.py").write_text(
            "".join(f"def handler_{n}_{i}(request):\n    return request.session[{i}]\n\n"
                    for i in range(20)), encoding="utf-8")
    (root / "settings.py").write_text(f"SESSION_TOKEN = '{secret}'\n" if secret else "X = 1\n",
                                      encoding="utf-8")
    return root


def pack(tmp_path: Path, root: Path, *extra: str) -> bytes:
    out = tmp_path / "pack.xml"
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "pack", str(root),
                                      "--budget", "1500", "--query", "session token handler_3",
                                      "-o", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def stored_words(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "cache" / "ingest.sqlite") as db:
        return [row[0] for row in db.execute("SELECT words FROM vocabularies")]


def test_a_warm_pack_takes_every_vocabulary_from_the_cache_and_packs_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = corpus(tmp_path / "repo")
    cold = pack(tmp_path, root)
    assert len(stored_words(tmp_path)) == 31

    def refuse(text: str) -> str:
        raise AssertionError("a warm run made a vocabulary")

    monkeypatch.setattr(vocabulary_module, "vocabulary", refuse)
    assert pack(tmp_path, root) == cold


def test_no_vocabulary_of_a_text_holding_a_secret_is_stored(tmp_path: Path) -> None:
    token = "ghp_" + "Zq8wX3vT6yB1nM4kL7pR2sD5fG9hJ0cV4aE6"
    root = corpus(tmp_path / "repo", secret=token)
    assert token.encode() in pack(tmp_path, root, "--no-redact")  # ranked, and shown as written
    words = stored_words(tmp_path)
    assert len(words) == 30  # every clean file's
    assert not any(token.lower() in stored for stored in words)
