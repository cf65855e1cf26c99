"""OCR of scanned PDF pages through `longread pack` and `longread ask`, on scans the tests make:
text drawn into an image with Pillow, wrapped as a PDF without a text layer."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import longread.ingest.ocr as ocr  # noqa: E402
from longread.analysis.cli.commands import cli  # noqa: E402
from tests.fakes import register_scripted  # noqa: E402
from tests.pdfs import pdf_bytes  # noqa: E402
from tests.scans import scanned_pdf  # noqa: E402
from tests.tesseract import need_tesseract  # noqa: E402

pytestmark = pytest.mark.slow  # tesseract runs: a second or more each

FIRST = "Quarterly report of the harbour office.\nShips counted in March: 1284."
SECOND = "The zebra crossing was repainted in May.\nCost of the work: 5600 euros."


@pytest.fixture(autouse=True)
def _tesseract() -> None:
    need_tesseract()


def _corpus(root: Path, **pdfs: bytes) -> Path:
    root.mkdir(parents=True)
    for name, data in pdfs.items():
        (root / f"{name}.pdf").write_bytes(data)
    return root


def _pack(tmp_path: Path, corpus: Path, *args: str) -> tuple[Result, dict[str, Any]]:
    out = tmp_path / "pack.txt"
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "pack", str(corpus),
                                      "--output", str(out), "--json", *args])
    assert result.exit_code == 0, result.output
    return result, json.loads(result.stdout) | {"text": out.read_text()}


def _entry(manifest: dict[str, Any], path: str) -> dict[str, Any]:
    return next(entry for entry in manifest["documents"] if entry["path"] == path)


def test_scanned_pages_are_read_by_ocr_and_flagged_with_their_confidence(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "docs", scan=scanned_pdf([FIRST, SECOND]),
                     mixed=pdf_bytes(["typed page about anchors", None]))
    _, manifest = _pack(tmp_path, corpus)
    pages = _entry(manifest, "scan.pdf")["ocr"]
    assert [page["page"] for page in pages] == [1, 2]
    assert all(80 <= page["confidence"] <= 100 for page in pages)
    assert "Ships counted in March: 1284." in manifest["text"]
    assert "The zebra crossing was repainted in May." in manifest["text"]
    assert 'id="scan.pdf#page=2" text_layer="ocr" ocr_confidence="' in manifest["text"]
    # a page that is blank to OCR too keeps its flag; the typed page is not OCR'd
    assert "ocr" not in _entry(manifest, "mixed.pdf") and "ocr" not in manifest
    assert 'id="mixed.pdf#page=2" text_layer="none"' in manifest["text"]


def test_ask_over_a_scan_cites_the_page_ocr_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def reply(system: str) -> str:
        seen.append(system)
        return "It was repainted in May (`scan.pdf#page=2`: `zebra crossing was repainted`)."

    register_scripted(monkeypatch, reply)
    corpus = _corpus(tmp_path / "docs", scan=scanned_pdf([FIRST, SECOND]))
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "ask", "--json",
                                      "--backend", "scripted", str(corpus), "When was it done?"])
    assert result.exit_code == 0, result.output
    [answer] = json.loads(result.stdout)["answers"]
    assert [(c["raw"], c["status"]) for c in answer["citations"]] == [("scan.pdf#page=2", "ok")]
    assert "Cost of the work: 5600 euros." in seen[0]


def test_ocr_text_is_cached_by_the_page_so_another_file_with_that_page_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    recognise = ocr.recognise
    monkeypatch.setattr(ocr, "recognise", lambda *a, **k: calls.append(1) or recognise(*a, **k))
    _pack(tmp_path, _corpus(tmp_path / "one", scan=scanned_pdf([FIRST, SECOND])))
    assert len(calls) == 2
    # another file (other bytes) holding the same second page: only its new page is read
    _, manifest = _pack(tmp_path, _corpus(tmp_path / "two", other=scanned_pdf([SECOND, "New."])))
    assert len(calls) == 3
    assert "The zebra crossing was repainted in May." in manifest["text"]
    assert [page["page"] for page in _entry(manifest, "other.pdf")["ocr"]] == [1, 2]


def test_without_tesseract_the_manifest_says_so_once_and_pages_stay_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = _corpus(tmp_path / "docs", a=scanned_pdf([FIRST]), b=scanned_pdf([SECOND]))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    _, manifest = _pack(tmp_path, corpus)
    assert manifest["ocr"].startswith("OCR unavailable: tesseract not found on PATH")
    assert json.dumps(manifest).count("tesseract not found") == 1
    assert 'id="a.pdf#page=1" text_layer="none"' in manifest["text"]
    assert "ocr" not in _entry(manifest, "a.pdf") and "Ships counted" not in manifest["text"]
    monkeypatch.undo()  # tesseract is back: the cached reading without OCR is not served
    _, manifest = _pack(tmp_path, corpus)
    assert "ocr" not in manifest and "Ships counted in March: 1284." in manifest["text"]


def test_a_page_over_the_ocr_time_limit_is_stopped_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ocr, "PAGE_LIMIT_S", 0.001)
    corpus = _corpus(tmp_path / "docs", scan=scanned_pdf([FIRST]))
    _, manifest = _pack(tmp_path, corpus, "--no-cache")
    assert "ocr" not in _entry(manifest, "scan.pdf")
    assert 'id="scan.pdf#page=1" text_layer="none"' in manifest["text"]
    assert ocr.recognise(b"", ocr.engine(), 0.001) == (
        "OCR stopped after the 0.001 s per-page time limit")


def test_a_secret_on_a_scanned_page_is_redacted_and_its_text_not_cached(tmp_path: Path) -> None:
    secret = "AKIA" + "Z7XQ4RT2WMB5KHNE"  # an AWS access key id, read exactly by OCR
    corpus = _corpus(tmp_path / "docs", keys=scanned_pdf([f"key id = {secret}\n{SECOND}"]))
    _, manifest = _pack(tmp_path, corpus)
    assert manifest["redactions"] and secret not in manifest["text"]
    assert "zebra crossing" in manifest["text"]
    stored = b"".join(p.read_bytes() for p in (tmp_path / "cache").iterdir() if p.is_file())
    assert b"Z7XQ4RT2" not in stored  # the redacted document is cached, its OCR page is not
    with sqlite3.connect(tmp_path / "cache" / "ingest.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM ocr_pages").fetchone() == (0,)
