"""Word files, web pages, e-books and notebooks through `longread pack`: each place under its
citable id, broken, encrypted and hostile files skipped with a reason, Markdown packed as before."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from longread.analysis.cli.commands import cli  # noqa: E402
from longread.ingest import documents as documents_module  # noqa: E402
from longread.ingest import zipped  # noqa: E402
from longread.ingest.cache import IngestCache  # noqa: E402
from longread.ingest.corpus import read_corpus  # noqa: E402
from longread.ingest.corpus_spec import CorpusSpec  # noqa: E402
from longread.ingest.isolation import extract_files  # noqa: E402
from tests.documents import docx_bytes, epub_bytes, html_page, notebook_json, zip_bomb  # noqa: E402


def _pack(tmp_path: Path, corpus: Path, *flags: str) -> tuple[str, dict]:
    manifest = tmp_path / "manifest.json"
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "pack",
                                      str(corpus), "--manifest", str(manifest), *flags])
    assert result.exit_code == 0, result.output
    return result.stdout, json.loads(manifest.read_text())


def _skips(manifest: dict) -> dict[str, str]:
    return {entry["path"]: entry["reason"] for entry in manifest["documents"]
            if entry["fidelity"] == "skipped"}


def _corpus(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    root = tmp_path / "docs"
    root.mkdir(exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return root


def test_a_word_file_is_packed_one_numbered_paragraph_each_headings_marked(
    tmp_path: Path,
) -> None:
    docx = docx_bytes([("h1", "Quarterly report"), ("p", "Revenue grew by 12 percent."),
                       ("p", ""), ("h2", "Risks"), ("p", "Supply chain delays in Asia."),
                       ("table", "Region|Sales;EU|40")])
    text, _ = _pack(tmp_path, _corpus(tmp_path, {"report.docx": docx}))
    assert '<section id="report.docx#p=1">\n# Quarterly report\n</section>' in text
    assert '<section id="report.docx#p=2">\nRevenue grew by 12 percent.\n</section>' in text
    assert '<section id="report.docx#p=3">\n## Risks\n</section>' in text  # the empty one: no p
    assert '<section id="report.docx#p=5">\nRegion | Sales\nEU | 40\n</section>' in text


def test_a_web_page_is_its_main_text_cut_at_headings_that_are_anchors(tmp_path: Path) -> None:
    page = html_page("Widget", [("Install", "Run pip install widget.", None),
                                ("Usage", "Call widget.run() daily.", "use-it"),
                                ("Install", "Again, for the server.", None)])
    text, _ = _pack(tmp_path, _corpus(tmp_path, {"page.html": page}))
    assert '<section id="page.html#top">\nWidget introduces the tool.\n</section>' in text
    assert '<section id="page.html#install">\n## Install\n\nRun pip install widget.' in text
    assert '<section id="page.html#use-it">\n## Usage' in text  # the heading's own id
    assert '<section id="page.html#install-1">' in text  # a repeated heading, as GitHub does
    for left_out in ("Docs menu", "Navigation script", "Copyright footer", "color:red"):
        assert left_out not in text


def test_a_web_page_template_or_app_shell_stays_its_source(tmp_path: Path) -> None:
    template = "<h1>{{ title }}</h1>\n{% for item in items %}<p>{{ item }}</p>{% endfor %}\n"
    shell = '<html><body><div id="root"></div><script src="app.js"></script></body></html>\n'
    text, manifest = _pack(tmp_path, _corpus(tmp_path, {"index.html": template,
                                                        "app.htm": shell}))
    assert "{% for item in items %}" in text and '<script src="app.js">' in text
    assert "<section" not in text and not _skips(manifest)


def test_an_ebook_is_packed_one_chapter_each_in_reading_order(tmp_path: Path) -> None:
    book = epub_bytes([("Beginnings", "The ship left port at dawn."),
                       ("Storm", "A storm broke the mast.")], stem="Chapter ")  # "Chapter%201"
    text, _ = _pack(tmp_path, _corpus(tmp_path, {"book.epub": book}))
    first = text.index('<section id="book.epub#ch=1">\n# Beginnings\n\nThe ship left port')
    assert first < text.index('<section id="book.epub#ch=2">\n# Storm\n\nA storm broke')
    assert "book.epub#ch=3" not in text  # the cover has no text: no chapter


def test_a_notebook_is_packed_by_cell_number_with_outputs(tmp_path: Path) -> None:
    notebook = notebook_json([("markdown", "# Analysis\nWe load data.", None),
                              ("code", "print(6 * 7)", "42"), ("code", "", None),
                              ("code", "x = 1", None)])
    text, _ = _pack(tmp_path, _corpus(tmp_path, {"analysis.ipynb": notebook}))
    assert '<section id="analysis.ipynb#cell=2">\nIn [2]:\nprint(6 * 7)\nOut:\n42\n' in text
    assert '<section id="analysis.ipynb#cell=4">' in text
    assert "analysis.ipynb#cell=3" not in text  # an empty cell keeps its number, shows nothing


def test_markdown_is_packed_as_the_text_it_was(tmp_path: Path) -> None:
    readme = "# Tool\nIntro.\n\n## Install\nRun make.\n"
    text, _ = _pack(tmp_path, _corpus(tmp_path, {"README.md": readme}), "--line-numbers")
    assert '<document id="README.md" fidelity="full">\n1\t# Tool\n2\tIntro.\n3\t\n4\t## Install' \
        in text and "<section" not in text


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("broken.docx", b"PK\x03\x04 not really a zip", "unreadable docx (not a zip"),
    ("locked.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, "encrypted (password"),
    ("drm.epub", epub_bytes([("One", "Locked text.")], encrypted=True), "encrypted (DRM)"),
    ("empty.epub", zip_bomb("mimetype", 0), "unreadable epub (no META-INF/container.xml)"),
    ("broken.ipynb", '{"cells": [', "unreadable notebook (bad JSON"),
    ("old.ipynb", '{"worksheets": []}', "unreadable notebook (no cells"),
])
def test_broken_and_encrypted_files_are_skipped_with_a_reason(
    tmp_path: Path, name: str, content: bytes | str, reason: str
) -> None:
    corpus = _corpus(tmp_path, {name: content, "notes.txt": "Still packed.\n"})
    text, manifest = _pack(tmp_path, corpus)
    assert _skips(manifest)[name].startswith(reason), _skips(manifest)
    assert "Still packed." in text


def test_a_zip_bomb_is_stopped_at_the_cap_not_inflated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zipped, "MAX_MEMBER_BYTES", 2 * 2**20)  # read in this process
    bomb = zip_bomb("word/document.xml", 64)
    assert len(bomb) < 2**20 / 4
    corpus = read_corpus(CorpusSpec.of([_corpus(tmp_path, {"bomb.docx": bomb, "a.txt": "a\n"})]),
                         isolate_pdfs=False)
    [skip] = corpus.skipped
    assert skip.path == "bomb.docx" and "zip bomb?" in skip.reason


def test_xml_with_entity_declarations_is_refused(tmp_path: Path) -> None:
    laughs = ('<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa">'
              '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><w:document>&b;</w:document>')
    docx = docx_bytes([("p", "x")])
    out = tmp_path / "laughs.docx"
    with zipfile.ZipFile(out, "w") as hostile, zipfile.ZipFile(__import__("io").BytesIO(docx)) \
            as real:
        for item in real.infolist():
            data = laughs.encode() if item.filename == "word/document.xml" else real.read(item)
            hostile.writestr(item, data)
    _, manifest = _pack(tmp_path, _corpus(tmp_path, {"laughs.docx": out.read_bytes(),
                                                     "a.txt": "a\n"}))
    assert "refused XML: EntitiesForbidden" in _skips(manifest)["laughs.docx"]


def test_a_second_pack_reads_places_from_the_cache_byte_for_byte(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path, {
        "report.docx": docx_bytes([("h1", "Title"), ("p", "Body text.")]),
        "page.htm": html_page("Page", [("Install", "Run it.", None)]),
        "nb.ipynb": notebook_json([("code", "print(1)", "1")]),
    })
    first, _ = _pack(tmp_path, corpus)
    second, manifest = _pack(tmp_path, corpus)
    assert first == second and "page.htm#install" in second
    assert {entry["path"] for entry in manifest["documents"]} == {"nb.ipynb", "page.htm",
                                                                 "report.docx"}


@pytest.mark.slow
def test_a_page_that_parses_too_long_is_killed_at_the_time_limit_and_the_rest_are_read() -> None:
    slow = ("<div>" * 1_500_000 + "</p>" * 1_500_000).encode()  # ~8 s of html.parser
    fast = html_page("Fast", [("Install", "Quick.", None)]).encode()
    notebook = notebook_json([("code", "print(1)", "1")]).encode()
    results = extract_files([("html", fast), ("html", slow), ("notebook", notebook)],
                            time_limit_s=0.2)
    assert results[1].skip_reason == "html extraction stopped after the 0.2 s per-file time limit"
    assert results[0].sections[1].place == "install" and results[2].sections[0].place == "cell=1"


def test_without_the_documents_extra_a_word_file_is_skipped_until_it_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _corpus(tmp_path, {"report.docx": docx_bytes([("p", "Body text.")]), "a.txt": "a\n"})
    with IngestCache(tmp_path / "ingest.sqlite") as cache:
        monkeypatch.setattr(documents_module, "xml_available", lambda: False)
        without = read_corpus(CorpusSpec.of([root]), cache=cache, isolate_pdfs=False)
        monkeypatch.undo()
        installed = read_corpus(CorpusSpec.of([root]), cache=cache, isolate_pdfs=False)
    assert [(s.path, s.reason) for s in without.skipped] == [("report.docx", zipped.EXTRA_MISSING)]
    assert [d.path for d in installed.documents] == ["a.txt", "report.docx"]  # not the cached skip
