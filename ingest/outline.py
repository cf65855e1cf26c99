"""Code structure through tree-sitter: the outline shown at "outline" fidelity, and the names
(definitions, references) the symbol graph ranks; `default_outlines` gives a document its own.

Each language has one query file in `queries/`: `@definition.KIND` marks a symbol, `@name` its
name, `@body` where its signature stops, `@reference` a name the file uses. Queries do the tree
walking in C; Python only touches the matches.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from tree_sitter import Language, Node, Parser, Query, QueryCursor

from longread.ingest.document import Document, Outline, Symbol
from longread.ingest.languages import OUTLINED

OutlineProvider = Callable[[Document], "Outline | None"]
OUTLINER_VERSION = "2"  # bump whenever extract_outline, format_outline or the cache key change

# language -> (grammar module, function returning its language pointer, query file stem)
_GRAMMARS = {
    "python": ("tree_sitter_python", "language", "python"),
    "javascript": ("tree_sitter_javascript", "language", "javascript"),
    "typescript": ("tree_sitter_typescript", "language_typescript", "typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx", "typescript"),
    "go": ("tree_sitter_go", "language", "go"),
    "rust": ("tree_sitter_rust", "language", "rust"),
    "java": ("tree_sitter_java", "language", "java"),
    "c": ("tree_sitter_c", "language", "c"),
    "cpp": ("tree_sitter_cpp", "language", "cpp"),
}
_QUERIES = Path(__file__).parent / "queries"
_PREFIX_NODES = frozenset({"decorator", "attribute_item"})  # siblings that open a signature
_CONTAINERS = frozenset({"class", "interface", "struct", "trait", "impl", "record", "enum"})
_NOT_DEFINED_HERE = frozenset({"impl"})  # `impl Foo` extends Foo; it does not define it
_MAX_SIGNATURE_LINES = 12
_MAX_BODYLESS_LINES = 3  # a longer definition without a body shows its first and last line


@dataclass(frozen=True)
class _Grammar:
    """A compiled grammar and query; a Parser is cheap (~2 µs), so each call makes its own and
    stays safe to use from several threads."""

    language: Language
    query: Query


@dataclass(frozen=True)
class _Found:
    """One definition match before it joins the outline: its name's position says which matches
    are the same definition, its byte span says what nests in what."""

    name_at: int
    start: int
    end: int
    pattern: int
    symbol: Symbol


@functools.cache
def _grammar(language: str) -> _Grammar | None:
    """Load a grammar and compile its query once per language; None for languages without one."""
    if language not in _GRAMMARS:
        return None
    module_name, function_name, stem = _GRAMMARS[language]
    ts_language = Language(getattr(importlib.import_module(module_name), function_name)())
    source = (_QUERIES / f"{stem}.scm").read_text(encoding="utf-8")
    return _Grammar(ts_language, Query(ts_language, source))


def extract_outline(source: str, language: str) -> Outline:
    """The outline, definitions and references of one file; never raises on bad source (the tree
    of a file with syntax errors still yields what it has), empty for unknown languages."""
    grammar = _grammar(language)
    if grammar is None:
        return Outline(language=language)
    data = source.encode("utf-8", "replace")
    tree = Parser(grammar.language).parse(data)
    found: dict[int, _Found] = {}
    references: set[bytes] = set()
    for pattern, captures in QueryCursor(grammar.query).matches(tree.root_node):
        if "reference" in captures:
            references.update(node.text for node in captures["reference"] if node.text)
        else:
            _keep_outermost(found, _definition(data, pattern, captures))
    symbols = _nest(sorted(found.values(), key=lambda f: (f.start, -f.end)))
    definitions = {s.name for s in symbols if s.kind not in _NOT_DEFINED_HERE}
    return Outline(
        language=language,
        symbols=tuple(symbols),
        definitions=tuple(sorted(definitions)),
        references=tuple(sorted(r.decode("utf-8", "replace") for r in references)),
    )


def _keep_outermost(found: dict[int, _Found], candidate: _Found | None) -> None:
    """Several patterns may match one name (`export function f`, `function f`): keep the widest,
    then the one written first in the query file."""
    if candidate is None:
        return
    current = found.get(candidate.name_at)
    if current is None or (candidate.start, candidate.pattern) < (current.start, current.pattern):
        found[candidate.name_at] = candidate


def _definition(data: bytes, pattern: int, captures: dict[str, list[Node]]) -> _Found | None:
    """A definition match as a symbol whose signature runs from its first decorator or keyword
    to the start of its body."""
    kind = next((c[len("definition.") :] for c in captures if c.startswith("definition.")), "")
    names = captures.get("name")
    if not kind or not names or not names[0].text:
        return None
    node = captures[f"definition.{kind}"][0]
    body = captures["body"][0] if "body" in captures else None
    first = _first_prefix(node)
    end = node.end_byte if body is None else _end_before(body, first.start_byte)
    text = data[first.start_byte : end].decode("utf-8", "replace")
    symbol = Symbol(
        name=names[0].text.decode("utf-8", "replace"),
        kind=kind,
        line=first.start_point.row + 1,
        end_line=node.end_point.row + 1,
        signature=_tidy(text, first.start_point.column, bodyless=body is None),
    )
    return _Found(names[0].start_byte, first.start_byte, node.end_byte, pattern, symbol)


def _first_prefix(node: Node) -> Node:
    """The earliest decorator or attribute directly before `node` (`@Input()`, `#[derive]`)."""
    first = node
    sibling = node.prev_named_sibling
    while sibling is not None and sibling.type in _PREFIX_NODES:
        first, sibling = sibling, sibling.prev_named_sibling
    return first


def _end_before(body: Node, start: int) -> int:
    """Where the signature stops: after the last token before the body that is not a comment."""
    sibling = body.prev_sibling
    while sibling is not None and "comment" in sibling.type:
        sibling = sibling.prev_sibling
    if sibling is None or sibling.end_byte <= start:
        return body.start_byte
    return sibling.end_byte


def _tidy(text: str, column: int, *, bodyless: bool) -> str:
    """Lines after the first lose the definition's own indentation, so nesting can be shown by
    depth alone; long bodyless definitions and monster signatures are cut."""
    lines = [text.split("\n", 1)[0].rstrip()]
    for line in text.split("\n")[1:]:
        indent = len(line) - len(line.lstrip())
        lines.append(line[min(indent, column) :].rstrip())
    if bodyless and len(lines) > _MAX_BODYLESS_LINES:
        lines = [f"{lines[0]} … {lines[-1].strip()}"]
    if len(lines) > _MAX_SIGNATURE_LINES:
        lines = [*lines[: _MAX_SIGNATURE_LINES - 1], lines[_MAX_SIGNATURE_LINES - 1] + " …"]
    return "\n".join(lines)


def _nest(found: list[_Found]) -> list[Symbol]:
    """Symbols in source order; a function directly inside a class-like symbol is a method."""
    symbols: list[Symbol] = []
    stack: list[_Found] = []
    for item in found:
        while stack and stack[-1].end <= item.start:
            stack.pop()
        symbol = item.symbol
        if symbol.kind == "function" and stack and stack[-1].symbol.kind in _CONTAINERS:
            symbol = replace(symbol, kind="method")
        symbols.append(symbol)
        stack.append(item)
    return symbols


def format_outline(outline: Outline, *, path: str) -> str:
    """The text of a document at "outline" fidelity: each signature line after its line number
    (`12│ def f(`), nested symbols indented by depth; one line naming `path` when it has none."""
    if not outline.symbols:
        return f"({path}: no definitions found)\n"
    return "".join(f"{text}\n" for _, text in outline_lines(outline))


def outline_lines(outline: Outline) -> list[tuple[int, str]]:
    """Each signature line of the outline with its line number, as `format_outline` shows it."""
    if not outline.symbols:
        return []
    width = len(str(max(s.line + s.signature.count("\n") for s in outline.symbols)))
    lines: list[tuple[int, str]] = []
    for symbol, depth in _depths(outline.symbols):
        indent = "  " * depth
        for offset, text in enumerate(symbol.signature.split("\n")):
            number = symbol.line + offset
            lines.append((number, f"{number:>{width}}│ {indent}{text}".rstrip()))
    return lines


def _depths(symbols: tuple[Symbol, ...]) -> list[tuple[Symbol, int]]:
    """Each symbol (in source order) with the number of symbols whose lines enclose it."""
    stack: list[Symbol] = []
    result: list[tuple[Symbol, int]] = []
    for symbol in symbols:
        while stack and not (
            stack[-1].line <= symbol.line <= symbol.end_line <= stack[-1].end_line
        ):
            stack.pop()
        result.append((symbol, len(stack)))
        stack.append(symbol)
    return result


def default_outlines(document: Document) -> Outline | None:
    """The document's own outline if read with one, else extracted now (code only)."""
    if document.outline is not None:
        return document.outline
    if document.kind == "code" and document.language in OUTLINED:
        return extract_outline(document.text, document.language or "")
    return None


def with_outline(document: Document, outlines: OutlineProvider) -> Document:
    """`document` carrying its outline (definitions and references), as ranking reads it."""
    outline = document.outline or outlines(document)
    return document if outline is document.outline else replace(document, outline=outline)
