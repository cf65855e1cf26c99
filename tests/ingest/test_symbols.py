"""Symbols once per outlined text: cached after, keyed by the text (so redaction changes the key),
extracted in worker processes on a large cold run with the same result as in-process."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import longread.ingest.symbols as symbols
import longread.ingest.workers as workers
from longread.ingest.cache import IngestCache
from longread.ingest.document import Document, Section
from longread.ingest.pack import build_pack
from longread.ingest.redact import redact_document
from longread.ingest.symbols import Symbols, extract_all
from longread.ingest.tokens import TiktokenCounter


def code(path: str, text: str) -> Document:
    digest = hashlib.sha256(text.encode()).hexdigest()
    return Document(path, "code", digest, len(text), (Section(text),), "python")


def sources(n: int) -> list[Document]:
    return [code(f"m{i}.py", f"def f{i}(x):\n    return g{i}(x)\n\nclass C{i}:\n    pass\n")
            for i in range(n)]


def test_a_warm_run_extracts_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = sources(5)
    with IngestCache(tmp_path / "ingest.sqlite") as cache:
        cold = Symbols(docs, cache)
        first = [cold(d) for d in docs]
        cold.flush()
        monkeypatch.setattr(symbols, "extract_all", lambda items: 1 / 0)
        warm = Symbols(docs, cache)
        assert [warm(d) for d in docs] == first
    assert first[0] is not None and first[0].definitions == ("C0", "f0")


def test_redacted_text_has_its_own_key(tmp_path: Path) -> None:
    token = "ghp_" + "Rt5" * 12
    raw = code("app.py", f'def connect(host, token="{token}"):\n    return host\n')
    redacted, found = redact_document(raw)
    assert found and redacted.sha256 == raw.sha256
    with IngestCache(tmp_path / "ingest.sqlite") as cache:
        first = Symbols([raw], cache)
        assert token in first(raw).symbols[0].signature  # type: ignore[union-attr]
        first.flush()
        outline = Symbols([redacted], cache)(redacted)
    assert outline is not None and token not in outline.symbols[0].signature


def test_workers_give_what_one_process_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    items = [(d.text, "python") for d in sources(40)]
    serial = extract_all(items)
    monkeypatch.setattr(symbols, "PARALLEL_CHARS", 0)
    assert extract_all(items) == serial


def test_no_outline_is_made_when_everything_fits() -> None:
    def refuse(document: Document) -> None:
        raise AssertionError(f"outline asked for {document.path}")

    pack = build_pack(sources(4), counter=TiktokenCounter(), budget=10_000, outlines=refuse,
                      query="f1")
    assert {entry.fidelity for entry in pack.manifest.documents} == {"full"}


def test_workers_that_cannot_start_fall_back_to_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class NoPool:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise OSError("no semaphores here")

    items = [(d.text, "python") for d in sources(3)]
    serial = extract_all(items)
    monkeypatch.setattr(symbols, "PARALLEL_CHARS", 0)
    monkeypatch.setattr(workers, "ProcessPoolExecutor", NoPool)
    assert extract_all(items) == serial
