"""Citations parse in every form, check against the corpus, and planted wrong ones are flagged."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longread.analysis.jobs.citations import CorpusIndex, check_citations, parse_citations
from longread.ingest.document import Document, Section

STORE = "\n".join(
    [
        "import sqlite3",
        "",
        "",
        "class NoteStore:",
        "    def add(self, text):",
        "        self.db.execute('INSERT INTO notes VALUES (?)', (text,))",
        "",
        "    def find(self, word):",
        "        return self.db.execute('SELECT * FROM notes WHERE text LIKE ?', (word,))",
    ]
)


def _corpus() -> CorpusIndex:
    return CorpusIndex(
        [
            Document(
                "app/store.py", "code", "s1", len(STORE), (Section(STORE),), language="python"
            ),
            Document(
                "docs/report.pdf",
                "pdf",
                "s2",
                10,
                (
                    Section("Quarterly revenue grew by 12 percent.", page=1),
                    Section("Risks: supply chain delays in Asia.", page=2),
                ),
            ),
        ]
    )


def test_parses_every_form() -> None:
    text = (
        "See `app/store.py:5` and [app/store.py:4-6], app/store.py#L8-L9, "
        "docs/report.pdf#page=2 and page 1 of docs/report.pdf."
    )
    found = [(c.path, c.start, c.end, c.page) for c in parse_citations(text)]
    assert found == [
        ("app/store.py", 5, 5, None),
        ("app/store.py", 4, 6, None),
        ("app/store.py", 8, 9, None),
        ("docs/report.pdf", None, None, 2),
        ("docs/report.pdf", None, None, 1),
    ]


def test_ignores_urls_times_and_plain_numbers() -> None:
    assert (
        parse_citations("Visit http://example.com:8080/x at 10:30, version 3.11 ratio 1:2.") == []
    )


def test_quote_next_to_citation_is_attached() -> None:
    [citation] = parse_citations(
        "`add` is defined at app/store.py:5 as `def add(self, text)`.\nNext `x`"
    )
    assert citation.quote == "def add(self, text)"


def test_a_backticked_name_is_not_a_quote_but_a_code_line_is() -> None:
    names = "`Flask.register_blueprint` (src/app.py:5), `os.path` src/a.py:1, `run()` src/b.py:2"
    assert [c.quote for c in parse_citations(names)] == [None, None, None]
    code = "src/app.py:5 `def add(self, text)`. src/a.py:1 `x = 1`. src/b.py:2 `db.execute('q')`."
    assert [c.quote for c in parse_citations(code)] == ["def add(self, text)", "x = 1",
                                                        "db.execute('q')"]


def test_a_quote_belongs_to_the_citation_in_its_own_sentence() -> None:
    text = ('It is at blueprints.py:256 "def teleport(self)". See docs/bp.rst#L1-L5 for more. '
            'Here `a.py:3` and "x = 1" differ from b.py:9, which has "y = 2".')
    assert [(c.path, c.quote) for c in parse_citations(text)] == [
        ("blueprints.py", "def teleport(self)"), ("docs/bp.rst", None),
        ("a.py", "x = 1"), ("b.py", "y = 2")]


def test_correct_citations_are_ok() -> None:
    answer = (
        "Notes are inserted in `app/store.py:5-6`: `INSERT INTO notes` and found by "
        "`app/store.py:8` (`def find(self, word)`). Revenue: docs/report.pdf#page=1 "
        '"revenue grew by 12   PERCENT".'
    )
    checked = check_citations(answer, _corpus())
    assert [c.status for c in checked] == ["ok", "ok", "ok"], checked


def test_planted_wrong_citations_are_flagged() -> None:
    answer = "\n".join(
        [
            "Config lives in `app/config.py:3`.",
            "Deletion is at app/store.py:40-44.",
            "Search: app/store.py:1 `SELECT * FROM notes`.",
            "Risks are on docs/report.pdf#page=7.",
            'Risks again: docs/report.pdf#page=2 "supply chain delays".',
        ]
    )
    statuses = [(c.raw, c.status) for c in check_citations(answer, _corpus())]
    assert statuses == [
        ("app/config.py:3", "unknown-path"),
        ("app/store.py:40-44", "out-of-range"),
        ("app/store.py:1", "quote-not-found"),
        ("docs/report.pdf#page=7", "out-of-range"),
        ("docs/report.pdf#page=2", "ok"),
    ]
    details = {c.raw: c.detail for c in check_citations(answer, _corpus())}
    assert (
        "9 lines" in details["app/store.py:40-44"]
        and "2 pages" in details["docs/report.pdf#page=7"]
    )


def test_quote_tolerates_two_lines_either_side_and_not_more() -> None:
    near = check_citations("app/store.py:6 `class NoteStore`", _corpus())  # NoteStore is line 4
    far = check_citations("app/store.py:9 `import sqlite3`", _corpus())
    assert near[0].status == "ok" and far[0].status == "quote-not-found"


def test_unique_suffix_resolves_with_a_note() -> None:
    [citation] = check_citations("store.py:4 `class NoteStore`", _corpus())
    assert (
        citation.status == "ok"
        and citation.path == "app/store.py"
        and "resolved" in citation.detail
    )


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_parser_never_raises(text: str) -> None:
    for citation in check_citations(text, _corpus()):
        assert citation.status in ("ok", "unknown-path", "out-of-range", "not-shown",
                                   "quote-not-found")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "app/store.py:",
                "#page=",
                "#L",
                "`",
                '"',
                "-",
                ":",
                "9",
                "0",
                " ",
                "docs/report.pdf",
                "page 2 of ",
                "\n",
                "…",
                "...",
            ]
        ),
        max_size=40,
    )
)
def test_parser_never_raises_on_citation_like_noise(parts: list[str]) -> None:
    check_citations("".join(parts), _corpus())
