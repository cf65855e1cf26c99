"""Place fragments and Markdown heading anchors: what `#...` a citation may carry."""

from __future__ import annotations

from longread.ingest.lines import split_lines
from longread.ingest.places import Place, markdown_headings, parse_place, slug


def test_numbered_places_and_anchors_parse_and_nothing_else_does() -> None:
    assert parse_place("#p=12") == Place("p=12", "p", 12)
    assert parse_place("cell=7") == Place("cell=7", "cell", 7)
    assert parse_place("install-1") == Place("install-1")
    for bad in ("p=١٢", "9lives", "", "p=" + "9" * 12, "a b", "x" * 201):
        assert parse_place(bad) is None, bad


def test_markdown_anchors_are_githubs_outside_code_fences() -> None:
    text = ("# Tool\n## Install & Run\n```md\n# not a heading\n```\n## Install & Run\n"
            "~~~\n## nor this\n~~~\n### 2024 plans\n#### Über uns ###\n#nospace\n")
    assert markdown_headings(split_lines(text)) == [
        ("tool", 1), ("install--run", 2), ("install--run-1", 6), ("h-2024-plans", 10),
        ("über-uns", 11)]
    assert slug("What's new?") == "whats-new"


def test_a_heading_line_of_a_hundred_thousand_spaces_and_hashes_is_read_at_once() -> None:
    import time

    lines = ["# a" + " " * 100_000 + "b", "# " + " #" * 50_000 + "y", "## C# ##", "# #"]
    started = time.monotonic()
    found = markdown_headings(lines)
    assert time.monotonic() - started < 1.0  # a backtracking pattern took 19 s for 40,000
    assert [(anchor[:2], anchor[-1]) for anchor, _ in found] == [("a-", "b"), ("h-", "y"),
                                                                 ("c", "c")]
