"""Keeps secrets out of a corpus before it is packed: secrets files skipped, secrets redacted,
in the text and in file names (a document's id is its redacted path from here on).

Runs after the ingest cache, so the cache keeps the source text and `--no-redact` costs nothing.
The scan is the slow part of a cold run (~10 MB/s), so a large one runs on both cores
(ingest/workers.py); the cache remembers which contents were clean, so a warm run scans only what
changed, and only documents with findings are rewritten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from longread.ingest.cache import IngestCache
from longread.ingest.document import Document, Skipped
from longread.ingest.pdf import pdf_reader_version
from longread.ingest.progress import Progress, no_progress
from longread.ingest.redact import REDACTOR_VERSION, Redaction, redact_document, redact_paths
from longread.ingest.secret_files import is_secret_file
from longread.ingest.textfile import TEXT_READER
from longread.ingest.workers import map_batches

PARALLEL_CHARS = 16_000_000  # ~0.6 s of scanning: below it, a worker starts too late to help


@dataclass(frozen=True)
class Scrubbed:
    """The documents that may be packed, the secrets files left out, and what was redacted."""

    documents: tuple[Document, ...]
    skipped: tuple[Skipped, ...]
    redactions: tuple[Redaction, ...]


def scrub(
    documents: tuple[Document, ...],
    skipped: Sequence[Skipped] = (),
    *,
    cache: IngestCache | None = None,
    progress: Progress = no_progress,
) -> Scrubbed:
    """Skip secrets files, redact secrets in every other document, and name every document and
    skip (`skipped`: the reader's) by its redacted path; both sorted by it."""
    scanned, dropped, redactions = _scan(documents, cache, progress)
    return _renamed(scanned, [*skipped, *dropped], redactions, cache)


def _scan(
    documents: tuple[Document, ...], cache: IngestCache | None, progress: Progress
) -> tuple[list[Document], list[Skipped], list[Redaction]]:
    """Secrets files dropped and the rest redacted (detectors see the real name), order kept."""
    kept, skipped = _drop_secret_files(documents)
    readers = {"pdf": pdf_reader_version()}
    items = [_item(doc, readers.get(doc.kind, TEXT_READER)) for doc in kept]
    known_clean = cache.get_clean(REDACTOR_VERSION, items) if cache else set()
    todo = [doc for doc, item in zip(kept, items, strict=True) if item not in known_clean]
    progress("scanning for secrets", 0, len(kept))
    sizes = [sum(len(section.text) for section in doc.sections) for doc in todo]
    results = iter(map_batches(_scan_batch, todo, sizes, parallel_from=PARALLEL_CHARS))
    scanned: list[Document] = []
    redactions: list[Redaction] = []
    newly_clean: list[str] = []
    for doc, item in zip(kept, items, strict=True):
        if item in known_clean:
            scanned.append(doc)
            continue
        redacted, found = next(results)
        scanned.append(doc if redacted is None else redacted)
        redactions.extend(found)
        if not found:
            newly_clean.append(item)
    progress("scanning for secrets", len(kept), len(kept))
    if cache is not None:
        cache.put_clean(REDACTOR_VERSION, newly_clean)
    return scanned, skipped, redactions


def _renamed(
    documents: list[Document],
    skipped: list[Skipped],
    redactions: list[Redaction],
    cache: IngestCache | None,
) -> Scrubbed:
    """Documents, skips and redactions under the ids packs show (see redact_paths)."""
    ids = _ids([*(d.path for d in documents), *(s.path for s in skipped)], cache)
    docs = [d if ids[d.path] == d.path else replace(d, path=ids[d.path]) for d in documents]
    skips = [s if ids[s.path] == s.path else replace(s, path=ids[s.path]) for s in skipped]
    found = [r if ids[r.path] == r.path else replace(r, path=ids[r.path]) for r in redactions]
    return Scrubbed(
        tuple(sorted(docs, key=lambda d: d.path)),
        tuple(sorted(skips, key=lambda s: s.path)),
        tuple(found),
    )


def _ids(paths: list[str], cache: IngestCache | None) -> dict[str, str]:
    """redact_paths over `paths`, scanning only names not found clean before (a warm run over
    an unchanged tree scans none, and so never loads the detectors)."""
    items = {path: _path_item(path) for path in paths}
    known = cache.get_clean(REDACTOR_VERSION, items.values()) if cache else set()
    ids = redact_paths(paths, clean={path for path, item in items.items() if item in known})
    if cache is not None:
        clean = [item for path, item in items.items() if ids[path] == path and item not in known]
        cache.put_clean(REDACTOR_VERSION, clean)
    return ids


def _scan_batch(docs: Sequence[Document]) -> list[tuple[Document | None, tuple[Redaction, ...]]]:
    """Each document redacted, or None when unchanged (a clean text is not sent back)."""
    results: list[tuple[Document | None, tuple[Redaction, ...]]] = []
    for doc in docs:
        redacted, found = redact_document(doc)
        results.append((None if redacted is doc else redacted, found))
    return results


def _drop_secret_files(documents: tuple[Document, ...]) -> tuple[list[Document], list[Skipped]]:
    kept, skipped = [], []
    for doc in documents:
        reason = is_secret_file(doc.path, text=doc.text if _is_token_config(doc.path) else None)
        if reason is None:
            kept.append(doc)
        else:
            skipped.append(Skipped(doc.path, reason))
    return kept, skipped


def _is_token_config(path: str) -> bool:
    return _name(path) in (".npmrc", ".pypirc", ".yarnrc.yml")


def _item(doc: Document, reader: str) -> str:
    """A verdict holds for the text `reader` made of these bytes, under this name (detectors
    differ by file type): a new reader's text is scanned afresh. The name is hashed: a cache
    keeps no file name, which may hold a secret."""
    return f"{doc.sha256}:{reader}:{_digest(_name(doc.path))}"


def _path_item(path: str) -> str:
    """The verdict that a path (a document's or a skip's) holds no secret, by its hash."""
    return f"path:{_digest(path)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _name(relpath: str) -> str:
    """The file name of a corpus path ("/"-separated, no trailing "/"), without a PurePath."""
    return relpath.rpartition("/")[2]
