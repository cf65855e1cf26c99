"""Relevance ranking over real outlines: query matches, graph centrality, priors, determinism."""

from __future__ import annotations

import hashlib

from longread.ingest import rank
from longread.ingest.document import Document, Section
from longread.ingest.languages import language_for
from longread.ingest.machine_made import MINIFIED_LINE_CHARS, held_back
from longread.ingest.outline import extract_outline
from longread.ingest.pagerank import pagerank
from longread.ingest.rank import (
    mentions,
    penalty,
    prior,
    query_terms,
    rank_documents,
)


def document(path: str, text: str) -> Document:
    language = language_for(path)
    outline = extract_outline(text, language) if language == "python" else None
    return Document(
        path=path,
        kind="code" if outline else "text",
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        size=len(text),
        sections=(Section(text),),
        language=language,
        outline=outline,
    )


def corpus() -> list[Document]:
    """A small app: core.py defines what four modules use; leaf.py uses it and nothing uses leaf."""
    users = {
        f"app/user{i}.py": f"from app.core import Store\n\ndef task{i}():\n    Store().load()\n"
        for i in range(4)
    }
    files = {
        "app/core.py": "class Store:\n    def load(self):\n        return read_rows()\n",
        "app/billing.py": "def charge_invoice(amount):\n    return Store().load()\n",
        "app/leaf.py": "from app.core import Store\n\ndef leaf_task():\n    return Store()\n",
        "app/shipping.py": "def ship(parcel):\n    return parcel\n",
        "docs/notes.md": "Meeting notes about the garden.\n",
        **users,
    }
    return [document(path, text) for path, text in sorted(files.items())]


def test_query_picks_the_file_that_defines_the_asked_symbol() -> None:
    ranking = rank_documents(corpus(), "Where is chargeInvoice computed?")
    assert next(iter(ranking)) == "app/billing.py"
    assert ranking["app/billing.py"] > ranking["app/shipping.py"]
    assert ranking["app/billing.py"] > ranking["docs/notes.md"]


def test_query_matches_prose_documents_too() -> None:
    ranking = rank_documents(corpus(), "garden meeting")
    assert next(iter(ranking)) == "docs/notes.md"


def test_graph_rank_puts_a_widely_referenced_module_above_a_leaf() -> None:
    ranking = rank_documents(corpus(), None)
    assert ranking["app/core.py"] > ranking["app/leaf.py"]
    assert ranking["app/core.py"] > ranking["app/shipping.py"]


def test_priors_without_a_query_favour_readme_and_entry_points_over_tests() -> None:
    docs = [
        *corpus(),
        document("README.md", "An app.\n"),
        document("app/__main__.py", "def main():\n    pass\n"),
        document(
            "tests/test_core.py", "from app.core import Store\n\ndef test_load():\n    Store()\n"
        ),
        document("vendor/lib.py", "def vendored():\n    pass\n"),
    ]
    ranking = rank_documents(docs, None)
    order = list(ranking)
    assert order[0] == "README.md"
    assert order.index("app/__main__.py") < order.index("app/shipping.py")
    assert ranking["tests/test_core.py"] < ranking["app/user1.py"]
    assert 0 < ranking["vendor/lib.py"] < ranking["app/shipping.py"]


def test_every_document_is_scored_and_the_order_is_deterministic() -> None:
    docs = corpus()
    first = rank_documents(docs, "store load")
    again = rank_documents(list(reversed(docs)), "store load")
    assert list(first.items()) == list(again.items())
    assert set(first) == {doc.path for doc in docs}


def test_ties_are_broken_by_path() -> None:
    docs = [document(name, "same words\n") for name in ["b.txt", "a.txt", "c.txt"]]
    assert list(rank_documents(docs, "words")) == ["a.txt", "b.txt", "c.txt"]


def test_query_terms_split_identifiers_and_drop_stop_words() -> None:
    assert query_terms("How does parseExpr handle snake_case?") == (
        "case",
        "expr",
        "handl",
        "pars",
        "parseexpr",
        "snak",
        "snake_cas",
    )


def test_a_stemmed_query_word_names_the_identifier_it_stems_like() -> None:
    terms = query_terms("parsing expressions")
    assert mentions("parse_expr", terms) and mentions("ExprParser", terms)
    assert not mentions("sparse_matrix", terms) and not mentions("compare", terms)


def test_pagerank_flows_to_the_referenced_node_and_sums_to_one() -> None:
    nodes = ["a", "b", "c"]
    ranks = pagerank(nodes, {"a": {"c": 1.0}, "b": {"c": 1.0}}, {n: 1.0 for n in nodes})
    assert ranks["c"] > ranks["a"] == ranks["b"]
    assert abs(sum(ranks.values()) - 1.0) < 1e-9


def test_a_final_newline_does_not_count_as_one_more_line_of_a_minified_file() -> None:
    text = ("x" * (MINIFIED_LINE_CHARS + 1) + "\n") * 20  # lines average more than the limit
    assert held_back([document("dist/bundle.js", text)], None) == {"dist/bundle.js"}


def test_priors_fade_with_depth_and_an_index_page_is_not_an_entry_point() -> None:
    assert prior("README.md") == 2 * prior("pkg/README.md") == 4 * prior("pkg/sub/README.md")
    assert prior("doc/src/modules/physics/index.rst") == 0.0
    assert prior("docs/index.md") > 0 and prior("web/index.ts") > 0


def test_lock_generated_and_minified_files_rank_last_unless_named() -> None:
    docs = [
        document("uv.lock", "[[package]]\nname = 'a'\n"),
        document("gen/api_pb2.py", "# Generated by the protocol buffer compiler.\nX = 1\n"),
        document("static/app.js", "var a=1;" * 2000),
        document("notes.txt", "plain words\n"),
    ]
    order = list(rank_documents(docs, None))
    assert order[0] == "notes.txt"
    assert held_back(docs, None) == {"uv.lock", "gen/api_pb2.py", "static/app.js"}
    assert "uv.lock" not in held_back(docs, "what does uv.lock pin?")


def test_only_a_prose_changelog_weighs_less_not_a_module_named_history() -> None:
    assert penalty("CHANGES.rst") == penalty("docs/changelog.md") == rank.HISTORY_FACTOR
    assert penalty("NEWS") == rank.HISTORY_FACTOR
    assert penalty("ipython/core/history.py") == penalty("app/news.py") == 1.0
