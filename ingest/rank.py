"""How relevant each document is to a query, so the pack knows which ones to keep in full.

Told top-down, in the spirit of aider's repo map: tags (what each file defines and references,
from its outline) -> graph (an edge from a file that uses a name to each file that defines it)
-> rank (personalised PageRank towards files that match the query) -> combine (with a BM25
score of the query against text and path, and priors for READMEs, entry points, tests,
changelogs and vendored files). Documents without an outline (prose, PDFs) get lexical score
and priors only.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import PurePosixPath

from longread.ingest.document import Document
from longread.ingest.machine_made import GENERATED_NAME, held_back
from longread.ingest.named import defining_files, module_files, named_files
from longread.ingest.pagerank import pagerank
from longread.ingest.vocabulary import held, lowered

# A document's vocabulary (ingest/vocabulary.py), None when unknown: then every term is scanned.
VocabularyProvider = Callable[[Document], "str | None"]

# combine: a query's lexical match leads; the graph and the priors decide among the rest.
LEXICAL_WEIGHT = 0.6
GRAPH_WEIGHT = 0.25
PRIOR_WEIGHT = 0.15
# combine without a query: READMEs and entry points first, then the files everything else uses.
GRAPH_WEIGHT_NO_QUERY = 0.4
PRIOR_WEIGHT_NO_QUERY = 0.6

# machine-made files (ingest/machine_made.py): added to their score, below every hand-written one
MACHINE_MADE_RANK = -1.0
# files the query names (ingest/named.py): added to their score, above every file it does not name
NAMED_FILE_RANK = 1.0

# lexical: BM25 over text plus path, with identifiers split into words.
BM25_K1 = 1.2
BM25_B = 0.75
PATH_TERM_WEIGHT = 5.0  # a query word in the path counts as this many in the text
EXACT_WORD_BELOW = 4  # shorter query words must match a whole word part ("io" is not "ion")

# graph
COMMON_NAME_DEFINERS = 8  # a name defined in more files than this says nothing about who uses whom
PRIVATE_NAME_WEIGHT = 0.1  # `_helper` is rarely what another file is about
QUERY_NAME_WEIGHT = 10.0  # references to a name the query mentions
TELEPORT_QUERY_WEIGHT = 10.0  # how strongly the walk restarts at files that match the query
# The query's walk over the uniform walk's rank, to this power (0 keeps hubs first for any query,
# 1 favours files no walk reaches); fitted on the tuning set, its log in docs/recall.md.
PLAIN_RANK_POWER = 0.5

# priors (bonus in [0, 1]) and penalties (factor); a prior counts half per folder below the root.
README_PRIOR = 1.0
ENTRY_POINT_PRIOR = 0.6
MANIFEST_PRIOR = 0.5
DOCS_INDEX_PRIOR = 0.5
NESTED_PRIOR_FACTOR = 0.5
TEST_FACTOR = 0.5
# A changelog matches any bug report by words while being about none; measured in docs/recall.md.
HISTORY_FACTOR = 0.5
VENDORED_FACTOR = 0.2
# With a query, what is not hand-written source (tests, changelogs, docs, examples, prose, data)
# weighs this much more: a fix seldom changes it. Tuned on the tuning set; docs/recall-large.md.
NON_SOURCE_FACTOR = 0.5

_STOP_WORDS = frozenset(
    "a an and are as at be by can do does for from has have how i in is it its of on or that the "  # noqa: SIM905
    "this to was what when where which who why will with you your".split()
)
_SUFFIXES = ("ings", "ing", "ers", "er", "es", "ed", "s", "e")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_ENTRY_POINTS = frozenset(
    {
        "__main__.py",
        "main.py",
        "cli.py",
        "app.py",
        "manage.py",
        "setup.py",
        "main.go",
        "main.rs",
        "lib.rs",
        "main.c",
        "main.cpp",
        "main.java",
    }
)
_INDEX_ENTRY_SUFFIXES = frozenset({".js", ".mjs", ".jsx", ".ts", ".tsx", ".html"})
_MANIFESTS = frozenset(
    {
        "pyproject.toml",
        "setup.cfg",
        "package.json",
        "cargo.toml",
        "go.mod",
        "pom.xml",
        "build.gradle",
        "cmakelists.txt",
        "makefile",
    }
)
_HISTORY_NAMES = frozenset(
    {"changelog", "changes", "history", "news", "releases", "release-notes", "release_notes"}
)
_PROSE_SUFFIXES = frozenset({"", ".md", ".rst", ".txt", ".adoc", ".markdown"})  # not history.py
_DOC_DIRS = frozenset({"doc", "docs", "example", "examples"})
_TEST_DIRS = frozenset({"test", "tests", "testing", "__tests__", "spec", "specs", "e2e"})
_TEST_NAME = re.compile(r"^(test_.*|.*_test\.\w+|.*\.(test|spec)\.\w+|conftest\.py)$")
_VENDORED_DIRS = frozenset(
    {
        "vendor",
        "vendored",
        "_vendor",
        "third_party",
        "thirdparty",
        "third-party",
        "node_modules",
        "external",
        "extern",
        "dist",
        "build",
        "generated",
        "_generated",
    }
)
def rank_documents(
    documents: Sequence[Document], query: str | None, *, last: frozenset[str] | None = None,
    vocabularies: VocabularyProvider | None = None,
) -> dict[str, float]:
    """Relevance of every document by path, highest first (ties by path): the order in which the
    pack should spend its budget on full text; `last` is `held_back`'s answer when known;
    `vocabularies` only saves scans (the scores are the same without it)."""
    terms = query_terms(query or "")
    lexical = _normalised(lexical_scores(documents, terms, vocabularies))
    graph = _normalised(graph_rank(documents, terms, lexical))
    lexical_weight, graph_weight, prior_weight = (
        (LEXICAL_WEIGHT, GRAPH_WEIGHT, PRIOR_WEIGHT)
        if terms
        else (0.0, GRAPH_WEIGHT_NO_QUERY, PRIOR_WEIGHT_NO_QUERY)
    )
    last = held_back(documents, query) if last is None else last
    named = query_named(documents, query or "")
    scores = {
        doc.path: (
            lexical_weight * lexical.get(doc.path, 0.0)
            + graph_weight * graph.get(doc.path, 0.0)
            + prior_weight * prior(doc.path)
        )
        * penalty(doc.path)
        * (source_factor(doc) if terms else 1.0)
        + (MACHINE_MADE_RANK if doc.path in last else 0.0)
        + (NAMED_FILE_RANK if doc.path in named else 0.0)
        for doc in documents
    }
    return dict(sorted(scores.items(), key=lambda item: (-item[1], item[0])))


def query_named(documents: Sequence[Document], query: str) -> frozenset[str]:
    """Files the query names by path or module, and hand-written source it writes as code."""
    paths = [doc.path for doc in documents]
    named = named_files(paths, query) | module_files(paths, query, keep=_is_source)
    if not query:
        return named
    return named | defining_files(_definers(documents), query, keep=_is_source)


def _is_source(path: str) -> bool:
    return penalty(path) == 1.0


def source_factor(doc: Document) -> float:
    """NON_SOURCE_FACTOR for a document that is not code (no outline), or is a test, changelog,
    vendored file, or lies in a docs or examples folder; 1.0 for the source a fix changes."""
    folders = {part.lower() for part in PurePosixPath(doc.path).parts[:-1]}
    if doc.outline is None or not _is_source(doc.path) or folders & _DOC_DIRS:
        return NON_SOURCE_FACTOR
    return 1.0


def query_terms(query: str) -> tuple[str, ...]:
    """The words of a query as a document's identifiers would spell them, whole and split, lower
    case, stemmed, without stop words: "How does parseExpr work?" -> ("expr", "parse",
    "parseexpr", "work")."""
    tokens = re.findall(r"\w+", query)
    words = [t.lower() for t in tokens] + split_words(query)
    return tuple(sorted({_stem(w) for w in words if len(w) > 1 and w not in _STOP_WORDS}))


def _stem(word: str) -> str:
    """A crude stem, since terms match as prefixes: "printers" finds "print", "printing"."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= EXACT_WORD_BELOW:
            return word[: -len(suffix)]
    return word


def split_words(text: str) -> list[str]:
    """Identifier parts in lower case: camelCase, snake_case, kebab-case and path segments."""
    return [word.lower() for word in _WORD.findall(text)]


# --- lexical -------------------------------------------------------------------------------------


def lexical_scores(
    documents: Sequence[Document], terms: Sequence[str],
    vocabularies: VocabularyProvider | None = None,
) -> dict[str, float]:
    """BM25 of the query terms against each document's text plus its path (weighted up); length is
    measured in characters, which only changes BM25's normalisation by a constant. The text is
    scanned only for the terms its vocabulary holds, when known (a term it lacks counts 0)."""
    if not terms or not documents:
        return {}
    counts: dict[str, dict[str, float]] = {}
    lengths: dict[str, int] = {}
    for doc in documents:
        text = doc.text
        known = vocabularies(doc) if vocabularies is not None else None
        in_text = terms if known is None else held(known, terms)
        counts[doc.path] = _term_counts(text, doc.path, terms, in_text)
        lengths[doc.path] = len(text) + len(doc.path)
    average = sum(lengths.values()) / len(lengths) or 1.0
    frequency = Counter(term for found in counts.values() for term in found)
    idf = {
        t: math.log(1 + (len(documents) - frequency[t] + 0.5) / (frequency[t] + 0.5)) for t in terms
    }
    return {
        path: sum(
            idf[term]
            * tf
            * (BM25_K1 + 1)
            / (tf + BM25_K1 * (1 - BM25_B + BM25_B * lengths[path] / average))
            for term, tf in found.items()
        )
        for path, found in counts.items()
    }


def _term_counts(
    text: str, path: str, terms: Sequence[str], in_text: Sequence[str]
) -> dict[str, float]:
    """How often each query term starts a word part of the text (only `in_text`, the terms it may
    hold, are looked for), plus the path's hits weighted."""
    found: dict[str, float] = dict(word_matches(text, in_text)) if in_text else {}
    for term, count in word_matches(path, terms).items():
        found[term] = found.get(term, 0.0) + count * PATH_TERM_WEIGHT
    return found


def word_matches(text: str, terms: Sequence[str]) -> Counter[str]:
    """Terms found where a word part starts (`parse` in `parse_expr`, `parseExpr`, `Parser`);
    short terms must also end the part. str.find on lowered text: far faster than a regex."""
    low = lowered(text)
    found: Counter[str] = Counter()
    for term in terms:
        start = low.find(term)
        while start != -1:
            end = start + len(term)
            if _is_word_part(text, start, end, whole=len(term) < EXACT_WORD_BELOW):
                found[term] += 1
            start = low.find(term, end)
    return found


def _is_word_part(text: str, start: int, end: int, *, whole: bool) -> bool:
    """`text[start:end]` begins a word part, and ends one too when `whole`."""
    if start and not _part_starts(text[start - 1], text[start]):
        return False
    return not whole or end == len(text) or _part_starts(text[end - 1], text[end])


def _part_starts(before: str, char: str) -> bool:
    """A word part starts at `char`: after a non-letter, or at a camelCase hump."""
    return not before.isalpha() or not char.isalpha() or (before.islower() and char.isupper())


# --- tags and graph ------------------------------------------------------------------------------


def graph_rank(
    documents: Sequence[Document], terms: Sequence[str], lexical: Mapping[str, float]
) -> dict[str, float]:
    """PageRank over the reference graph of the documents that have outlines, restarting more
    often at files that match the query (lexically, or by defining a name the query mentions);
    with a query, divided by the rank of the same walk restarting uniformly (same edges) to
    PLAIN_RANK_POWER, so a hub that every walk reaches does not outrank the files the query leads
    to."""
    definers = _definers(documents)
    nodes = sorted(doc.path for doc in documents if doc.outline is not None)
    if not nodes:
        return {}
    mentioned = {name for name in definers if mentions(name, terms)} if terms else set()
    edges = _edges(documents, definers, mentioned)
    teleport = {path: 1.0 + TELEPORT_QUERY_WEIGHT * lexical.get(path, 0.0) for path in nodes}
    for name in sorted(mentioned):
        for path in definers[name]:
            teleport[path] += TELEPORT_QUERY_WEIGHT
    personal = pagerank(nodes, edges, teleport)
    if not terms:
        return personal
    plain = pagerank(nodes, edges, dict.fromkeys(nodes, 1.0))
    return {path: personal[path] / plain[path] ** PLAIN_RANK_POWER for path in nodes}


def _definers(documents: Sequence[Document]) -> dict[str, list[str]]:
    """Which files define each name (in path order)."""
    definers: dict[str, list[str]] = defaultdict(list)
    for doc in sorted(documents, key=lambda d: d.path):
        if doc.outline is not None:
            for name in doc.outline.definitions:
                definers[name].append(doc.path)
    return definers


def _edges(
    documents: Sequence[Document], definers: Mapping[str, list[str]], mentioned: set[str]
) -> dict[str, dict[str, float]]:
    """Weighted edges from each file to the files defining the names it references; a name
    defined in k files spreads its weight over all k."""
    edges: dict[str, dict[str, float]] = {}
    for doc in sorted(documents, key=lambda d: d.path):
        if doc.outline is None:
            continue
        targets: dict[str, float] = defaultdict(float)
        for name in doc.outline.references:
            paths = definers.get(name, ())
            if not paths or len(paths) > COMMON_NAME_DEFINERS:
                continue
            weight = _name_weight(name, mentioned) / len(paths)
            for path in paths:
                if path != doc.path:
                    targets[path] += weight
        if targets:
            edges[doc.path] = dict(targets)
    return edges


def _name_weight(name: str, mentioned: set[str]) -> float:
    """Names the query mentions weigh more; private names less."""
    weight = QUERY_NAME_WEIGHT if name in mentioned else 1.0
    return weight * PRIVATE_NAME_WEIGHT if name.startswith("_") else weight


def mentions(name: str, terms: Iterable[str]) -> bool:
    """The query names this identifier, whole or by one of its parts, both sides stemmed alike
    ("parsing" -> `pars` names `parse_expr`, whose part `parse` stems to `pars` too)."""
    lowered = name.lower()
    terms = [term for term in terms if term in lowered]  # a stem is a prefix of its word
    if not terms:
        return False
    stems = {_stem(part) for part in split_words(name)} | {_stem(lowered)}
    return any(term in stems for term in terms)


# --- priors and combination ----------------------------------------------------------------------


def prior(path: str) -> float:
    """How much a reader wants this file before knowing the question: a docs index, and READMEs,
    entry points and project manifests (half as much per folder away from the root)."""
    pure = PurePosixPath(path)
    name, stem = pure.name.lower(), pure.stem.lower()
    if stem == "index" and pure.parent.name in {"doc", "docs"}:
        return DOCS_INDEX_PRIOR
    if name.startswith("readme"):
        bonus = README_PRIOR
    elif name in _ENTRY_POINTS or (stem == "index" and pure.suffix in _INDEX_ENTRY_SUFFIXES):
        bonus = ENTRY_POINT_PRIOR
    elif name in _MANIFESTS:
        bonus = MANIFEST_PRIOR
    else:
        return 0.0
    return bonus * NESTED_PRIOR_FACTOR ** (len(pure.parts) - 1)


def penalty(path: str) -> float:
    """Tests, changelogs and vendored or generated files matter less than the code they test,
    record or copy."""
    pure = PurePosixPath(path)
    folders = {part.lower() for part in pure.parts[:-1]}
    name = pure.name.lower()
    if folders & _VENDORED_DIRS or GENERATED_NAME.match(name):
        return VENDORED_FACTOR
    if folders & _TEST_DIRS or _TEST_NAME.match(name):
        return TEST_FACTOR
    if pure.stem.lower() in _HISTORY_NAMES and pure.suffix.lower() in _PROSE_SUFFIXES:
        return HISTORY_FACTOR
    return 1.0


def _normalised(scores: Mapping[str, float]) -> dict[str, float]:
    """Scores scaled into [0, 1] by the largest, so weights compare like with like."""
    top = max(scores.values(), default=0.0)
    return {path: score / top for path, score in scores.items()} if top > 0 else dict(scores)
