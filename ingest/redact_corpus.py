"""Redaction applied to a corpus as it is read: secrets files skipped, secrets redacted in the
text and in file names (a document's id is its redacted path after `rename`). How one text,
document or path is redacted is ingest/redact.py; this module runs it over a corpus.

The one redaction step. It runs as a file is read for the first time, before anything of it is
cached, so the ingest cache holds only scanned text (ingest/corpus.py keeps it with where each
secret was, and a warm run scans nothing). Secrets files known by name are skipped before a byte of
them is read. The scan is the slow part of a cold run (~10 MB/s), so a large one runs on both cores
(ingest/workers.py); only documents with findings are rewritten. Names are scanned once all files
are read (`rename`); the cache keeps, by hash, which paths were clean, so a warm run scans none.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from longread.ingest.cache import IngestCache
from longread.ingest.discover import SourceFile
from longread.ingest.document import Document, Skipped
from longread.ingest.progress import Progress, no_progress
from longread.ingest.redact import REDACTOR_VERSION, Redaction, redact_document, redact_paths
from longread.ingest.secret_files import is_secret_file
from longread.ingest.workers import map_batches

PARALLEL_CHARS = 16_000_000  # ~0.6 s of scanning: below it, a worker starts too late to help
STAGE = "scanning for secrets"

Outcome = tuple[Document | Skipped, tuple[Redaction, ...]]


@dataclass(frozen=True)
class RedactedCorpus:
    """The documents that may be packed, the secrets files left out, what was redacted, and
    (redaction off) the documents whose text holds a secret, of which nothing may be cached."""

    documents: tuple[Document, ...]
    skipped: tuple[Skipped, ...]
    redactions: tuple[Redaction, ...]
    unclean: frozenset[str] = frozenset()


def may_be_secret_file(relpath: str) -> bool:
    """A secrets file, or a token config that may hold one: never cached, whatever the run."""
    return is_secret_file(relpath) is not None


def skip_secret_files(files: Sequence[SourceFile]) -> tuple[list[SourceFile], list[Skipped]]:
    """The files to read, and the secrets files known by name alone (never opened). A token
    config (.npmrc, .pypirc) is read: its text says whether it holds a credential."""
    kept: list[SourceFile] = []
    skipped: list[Skipped] = []
    for source in files:
        reason = None if _is_token_config(source.relpath) else is_secret_file(source.relpath)
        if reason is None:
            kept.append(source)
        else:
            skipped.append(Skipped(source.relpath, reason))
    return kept, skipped


def redact_each(
    documents: Sequence[Document], *, progress: Progress = no_progress
) -> list[Outcome]:
    """Each document redacted (or a token config that holds a credential skipped), with what was
    found, in order. Nothing to scan (a warm run): nothing said."""
    if not documents:
        return []
    verdicts = [_token_config_reason(doc) for doc in documents]
    todo = [doc for doc, reason in zip(documents, verdicts, strict=True) if reason is None]
    progress(STAGE, 0, len(documents))
    sizes = [sum(len(section.text) for section in doc.sections) for doc in todo]
    scanned = iter(map_batches(_scan_batch, todo, sizes, parallel_from=PARALLEL_CHARS))
    outcomes: list[Outcome] = []
    for doc, reason in zip(documents, verdicts, strict=True):
        if reason is not None:
            outcomes.append((Skipped(doc.path, reason), ()))
            continue
        redacted, found = next(scanned)
        outcomes.append((doc if redacted is None else redacted, found))
    progress(STAGE, len(documents), len(documents))
    return outcomes


def rename(
    documents: Sequence[Document],
    skipped: Sequence[Skipped],
    redactions: Sequence[Redaction],
    cache: IngestCache | None,
) -> RedactedCorpus:
    """Documents, skips and redactions under the ids packs show (see redact_paths), each
    sorted by it."""
    ids = _ids([*(d.path for d in documents), *(s.path for s in skipped)], cache)
    docs = [d if ids[d.path] == d.path else replace(d, path=ids[d.path]) for d in documents]
    skips = [s if ids[s.path] == s.path else replace(s, path=ids[s.path]) for s in skipped]
    found = [r if ids[r.path] == r.path else replace(r, path=ids[r.path]) for r in redactions]
    return RedactedCorpus(
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


def _path_item(path: str) -> str:
    """The verdict that a path (a document's or a skip's) holds no secret, by its hash."""
    return "path:" + hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()


def _scan_batch(docs: Sequence[Document]) -> list[tuple[Document | None, tuple[Redaction, ...]]]:
    """Each document redacted, or None when unchanged (a clean text is not sent back)."""
    results: list[tuple[Document | None, tuple[Redaction, ...]]] = []
    for doc in docs:
        redacted, found = redact_document(doc)
        results.append((None if redacted is doc else redacted, found))
    return results


def _token_config_reason(doc: Document) -> str | None:
    return is_secret_file(doc.path, text=doc.text) if _is_token_config(doc.path) else None


def _is_token_config(path: str) -> bool:
    return _name(path) in (".npmrc", ".pypirc", ".yarnrc.yml")


def _name(relpath: str) -> str:
    """The file name of a corpus path ("/"-separated, no trailing "/"), without a PurePath."""
    return relpath.rpartition("/")[2]
