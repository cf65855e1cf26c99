from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longread.ingest.document import Document, Section
from longread.ingest.render import cut_block, render_block, render_header, unit_spans
from longread.ingest.styles import STYLES, XML
from longread.ingest.tokens import TiktokenCounter

COUNTER = TiktokenCounter()


def code(path: str, text: str, language: str = "python") -> Document:
    digest = hashlib.sha256(text.encode()).hexdigest()
    return Document(path, "code", digest, len(text), (Section(text),), language)


def pdf(path: str, pages: list[str]) -> Document:
    sections = tuple(
        Section(text, page=n, has_text_layer=bool(text)) for n, text in enumerate(pages, 1)
    )
    return Document(path, "pdf", "0" * 64, 1, sections)


tokens = st.sampled_from(
    [*"ab xyZ\t\n\r`<>/{}()#=-:.'\"é中1", "</document>", "```", "</page>", "  \n"]
)
texts = st.lists(tokens, max_size=80).map("".join)
paths = st.from_regex(r"[a-z][a-z0-9_/]{0,20}\.(py|md|txt)", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(paths, texts, st.sampled_from(["full", "outline", "path"])), max_size=6),
    st.lists(texts, min_size=1, max_size=3),
    st.sampled_from(list(STYLES.values())),
    st.booleans(),
)
@pytest.mark.slow
def test_cl100k_counts_add_up_across_pieces(entries, pages, style, line_numbers):
    blocks = [
        render_block(code(p, t), f, style, line_numbers=line_numbers, outline=t).text
        for p, t, f in entries
    ]
    blocks.append(render_block(pdf("doc.pdf", pages), "full", style).text)
    header = render_header([(p, f, None) for p, _, f in entries], style)
    pieces = [header, *blocks]
    assert all(piece.endswith("\n") and not piece[0].isspace() for piece in pieces)
    assert COUNTER.count("".join(pieces)) == sum(COUNTER.count_many(pieces))


def test_xml_block_keeps_raw_text_and_a_closing_tag_the_text_cannot_fake():
    text = 'if a < b and c > "d":\n    s = "</document>"\n'
    block = render_block(code("src/app.py", text), "full", XML).text
    assert text in block
    first, *_, last = block.splitlines()
    tag = first.split()[0][1:]
    assert tag.startswith("document_") and last == f"</{tag}>"
    assert block.count(f"</{tag}>") == 1


def test_xml_plain_block_shape():
    block = render_block(code("src/app.py", "x = 1"), "full", XML).text
    assert block == '<document id="src/app.py" fidelity="full">\nx = 1\n</document>\n'


def test_markdown_fence_is_longer_than_any_backtick_run():
    text = "doc = '''\n````` five\n```\n'''\n"
    block = render_block(code("a.py", text), "full", STYLES["markdown"]).text
    assert block.startswith("## a.py (full)\n``````python\n")
    assert block.endswith(text + "``````\n")


def test_line_numbers_prefix_every_line():
    document = code("a.py", "one\ntwo\n\nfour")
    block = render_block(document, "full", STYLES["plain"], line_numbers=True).text
    assert block == "==> a.py (full) <==\n1\tone\n2\ttwo\n3\t\n4\tfour\n"


@pytest.mark.parametrize("style", STYLES.values(), ids=list(STYLES))
def test_every_pdf_page_carries_its_citable_id(style):
    block = render_block(pdf("report.pdf", ["first", "", "third"]), "full", style).text
    for page in (1, 2, 3):
        assert f"report.pdf#page={page}" in block
    assert ("no text layer" in block) or ('text_layer="none"' in block)


def test_outline_and_path_blocks():
    document = code("lib/x.py", "def f():\n    return 1\n")
    outline = render_block(document, "outline", XML, outline="1: def f():").text
    assert outline == '<document id="lib/x.py" fidelity="outline">\n1: def f():\n</document>\n'
    assert (
        render_block(document, "path", XML).text == '<document id="lib/x.py" fidelity="path"/>\n'
    )
    assert render_block(document, "path", STYLES["markdown"]).text == "## lib/x.py (path)\n"


@pytest.mark.parametrize("style", STYLES.values(), ids=list(STYLES))
def test_cut_block_keeps_the_id_and_names_its_lines(style):
    block = render_block(code("a.py", "".join(f"line {n}\n" for n in range(1, 11))), "full", style)
    spans = unit_spans(block.text, block.layout)
    assert len(spans) == 10
    part, label = cut_block(block.text, block.layout, spans[3:6], style)
    assert str(label) == "lines 4-6" and label.to_json() == {"unit": "lines", "ranges": [[4, 6]]}
    assert (
        "line 4\nline 5\nline 6\n" in part.text
        and "line 7" not in part.text
        and "line 3" not in part.text
    )
    assert "a.py" in part.text.splitlines()[0] and "lines 4-6" in part.text.splitlines()[0]
    again, label = cut_block(part.text, part.layout, unit_spans(part.text, part.layout)[1:], style)
    assert label.label == "lines 5-6" and again.text.splitlines()[0].count("lines") == 1


def test_cut_pdf_by_pages():
    block = render_block(pdf("r.pdf", ["a", "b", "c"]), "full", XML)
    spans = unit_spans(block.text, block.layout)
    part, label = cut_block(block.text, block.layout, spans[1:], XML)
    assert label.label == "pages 2-3"
    assert "r.pdf#page=1" not in part.text and "r.pdf#page=3" in part.text


def test_with_part_relabels_markdown_and_plain():
    assert (
        STYLES["markdown"].with_part("## a (b).py (full)\n", "lines 1-2")
        == "## a (b).py (full, lines 1-2)\n"
    )
    relabelled = STYLES["plain"].with_part("==> a (full, lines 1-2) <==\n", "lines 2-2")
    assert relabelled == "==> a (full, lines 2-2) <==\n"


def test_a_page_quoting_the_document_end_tag_is_cut_at_its_own_page_boundaries():
    """The block's tag is renamed when a page holds `</document`; page offsets follow it."""
    block = render_block(pdf("r.pdf", ["a </document> b", "second", "third"]), "full", XML)
    assert block.text.startswith("<document_")
    spans = unit_spans(block.text, block.layout)
    assert [block.text[start:end].split(" ")[0] for start, end, _ in spans] == ["<page"] * 3
    part, label = cut_block(block.text, block.layout, spans[1:2], XML)
    assert label.label == "pages 2-2" and part.text.count("<page") == 1 and "second" in part.text
