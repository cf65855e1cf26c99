"""Which query terms a document can hold at all, from its vocabulary (its distinct words, lower
case), so ranking scans a document's full text only for the terms it may hold.

A term made of word characters occurs in the lowered text only inside a run of word characters,
so a term absent from every run (the vocabulary) counts 0 there: the filter never changes a count.
On a 10M-token corpus 86% of (term, document) pairs are absent, and the vocabularies are a fifth
of the text. They are kept in the ingest cache by the sha256 of the text and VOCABULARY_VERSION;
one made from a text holding a secret (redaction off) is never stored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Sequence

from longread.ingest.cache import IngestCache
from longread.ingest.document import Document

VOCABULARY_VERSION = "word-runs-1"  # what `vocabulary` makes: bump when it changes
_RUN = re.compile(r"\w+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def lowered(text: str) -> str:
    """`text` in lower case, position for position (a few non-ASCII letters change length when
    lowered: then only ASCII is lowered)."""
    low = text.lower()
    return low if len(low) == len(text) else text.translate(_ASCII_LOWER)


def vocabulary(text: str) -> str:
    """The distinct runs of word characters of the lowered text, one a line, sorted."""
    return "\n".join(sorted(set(_RUN.findall(lowered(text)))))


def held(vocabulary: str, terms: Sequence[str]) -> list[str]:
    """The terms (in their order) the text may hold: those in its vocabulary, and any term with a
    character that is not a word character (the vocabulary cannot rule those out)."""
    return [term for term in terms if term in vocabulary or not _RUN.fullmatch(term)]


class Vocabularies:
    """Vocabulary per document path: from the cache in one bulk read on first use, the rest made
    then; `flush` stores those made in this run (never one of a text holding a secret)."""

    def __init__(
        self, documents: Sequence[Document], cache: IngestCache | None = None,
        *, uncached: Collection[str] = (),
    ) -> None:
        """`uncached`: the paths of documents whose text holds a secret (redaction off)."""
        self._cache = cache
        self._documents = {doc.path: doc for doc in documents}
        self._uncached = frozenset(uncached)  # its text's key is never stored, whoever else has it
        self._known: dict[str, str] | None = None
        self._fresh: dict[str, str] = {}

    def __call__(self, document: Document) -> str | None:
        """The document's vocabulary, None for a document this provider was not made with (or
        one whose text differs from it)."""
        if self._known is None:
            self._known = self._load()
        mine = self._documents.get(document.path)
        if mine is None or mine.text is not document.text and mine.text != document.text:
            return None
        return self._known[document.path]

    def flush(self) -> None:
        """Store the vocabularies made in this run."""
        if self._fresh and self._cache is not None:
            self._cache.put_vocabularies(VOCABULARY_VERSION, self._fresh)
        self._fresh = {}

    def _load(self) -> dict[str, str]:
        keys = {path: text_sha256(doc.text) for path, doc in self._documents.items()}
        secret = {keys[path] for path in self._uncached if path in keys}
        known = (self._cache.get_vocabularies(VOCABULARY_VERSION, keys.values())
                 if self._cache is not None else {})
        for path, key in keys.items():
            if key not in known:
                known[key] = vocabulary(self._documents[path].text)
                if key not in secret:
                    self._fresh[key] = known[key]
        return {path: known[key] for path, key in keys.items()}


def text_sha256(text: str) -> str:
    """What a vocabulary is a function of (with VOCABULARY_VERSION): the text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
