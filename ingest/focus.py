"""Which parts of a large file a question is about: the definitions it names, then those whose
bodies use most of its words, each with a little context. The fitter keeps as many of them in
full as the budget allows and shows the rest of the file as an outline.
"""

from __future__ import annotations

from longread.ingest.document import Document, Outline, Symbol
from longread.ingest.lines import split_lines
from longread.ingest.rank import mentions, query_terms, word_matches

CONTEXT_LINES = 2  # shown around a region (a comment above, the line after)
MAX_REGIONS = 12
NAME_WEIGHT = 10.0  # a definition the query names outranks any body that uses its words


def focus_regions(document: Document, outline: Outline, query: str) -> list[tuple[int, int]]:
    """(first, last) line ranges of the definitions most about `query`, best first."""
    terms = query_terms(query)
    if not terms or not outline.symbols:
        return []
    lines = split_lines(document.text)
    scored: list[tuple[float, int, int, int]] = []
    for symbol in outline.symbols:
        named = sum(1 for term in terms if mentions(symbol.name, [term]))
        if not named and _encloses_another(symbol, outline.symbols):
            continue  # a class is shown through its methods unless the query names it
        body = "\n".join(lines[symbol.line - 1 : symbol.end_line])
        found = word_matches(body, terms)
        if not named and not found:
            continue
        size = symbol.end_line - symbol.line + 1
        score = NAME_WEIGHT * named + len(found) + sum(found.values()) / (size + 10)
        first = max(1, symbol.line - CONTEXT_LINES)
        last = min(len(lines), symbol.end_line + CONTEXT_LINES)
        scored.append((-score, symbol.line, first, last))
    return [(first, last) for _, _, first, last in sorted(scored)[:MAX_REGIONS]]


def _encloses_another(symbol: Symbol, symbols: tuple[Symbol, ...]) -> bool:
    return any(
        other is not symbol and symbol.line <= other.line and other.end_line <= symbol.end_line
        for other in symbols
    )
