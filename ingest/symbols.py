"""Outlines (signatures, definitions, references) of every code document, once per outlined text.

Keyed by the sha256 of the text actually outlined, so after redaction the key differs from the
source's and an outline made from unredacted text can never reach a redacted run; one made from a
text that holds a secret (redaction off) is never stored. What the cache
lacks is extracted in worker processes on both cores (ingest/workers.py), written back in one
batch by `flush`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence

from longread.ingest.cache import IngestCache
from longread.ingest.document import Document, Outline
from longread.ingest.languages import OUTLINED
from longread.ingest.outline import OUTLINER_VERSION, extract_outline
from longread.ingest.workers import map_batches

PARALLEL_CHARS = 2_000_000  # below this much source, starting workers costs more than it saves

Key = tuple[str, str]  # (sha256 of the outlined text, language)


class Symbols:
    """Outline per document (None for documents without one): from the cache in one bulk read on
    first use, the rest extracted then, all at once, since ranking wants every one of them."""

    def __init__(
        self, documents: Sequence[Document], cache: IngestCache | None = None,
        *, uncached: Collection[str] = (),
    ) -> None:
        """`uncached`: the paths of documents whose text holds a secret (redaction off)."""
        self._cache = cache
        self._keys = {d.path: outline_key(d) for d in documents if is_outlined(d)}
        self._secret_keys = {self._keys[path] for path in uncached if path in self._keys}
        self._texts = {self._keys[d.path]: d.text for d in documents if d.path in self._keys}
        self._known: dict[Key, Outline] | None = None
        self._fresh: dict[Key, Outline] = {}

    def __call__(self, document: Document) -> Outline | None:
        key = self._keys.get(document.path)
        if key is None:
            return None
        if self._known is None:
            self._known = self._load()
        return self._known[key]

    def flush(self) -> None:
        """Store the outlines extracted in this run."""
        keep = {key: outline for key, outline in self._fresh.items()
                if key not in self._secret_keys}
        if keep and self._cache is not None:
            self._cache.put_outlines(OUTLINER_VERSION, keep)
        self._fresh = {}

    def _load(self) -> dict[Key, Outline]:
        wanted = sorted(self._texts)
        known = self._cache.get_outlines(OUTLINER_VERSION, wanted) if self._cache else {}
        missing = [key for key in wanted if key not in known]
        if missing:
            made = extract_all([(self._texts[key], key[1]) for key in missing])
            self._fresh = dict(zip(missing, made, strict=True))
        self._texts = {}
        return known | self._fresh


def is_outlined(document: Document) -> bool:
    return document.kind == "code" and document.language in OUTLINED


def outline_key(document: Document) -> Key:
    """What an outline is a function of: the text outlined (redacted or not) and its language."""
    digest = hashlib.sha256(document.text.encode("utf-8", "surrogatepass")).hexdigest()
    return digest, document.language or ""


def extract_all(items: Sequence[tuple[str, str]]) -> list[Outline]:
    """Outlines of (text, language) items, in order; in worker processes when there is enough."""
    sizes = [len(text) for text, _ in items]
    return map_batches(_extract_batch, items, sizes, parallel_from=PARALLEL_CHARS)


def _extract_batch(items: Sequence[tuple[str, str]]) -> list[Outline]:
    return [extract_outline(text, language) for text, language in items]
