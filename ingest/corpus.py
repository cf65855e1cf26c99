"""The corpus as `Document`s: discover the files, then read each one, or take it from the cache.

A file whose stat matches the cache's stat index is never opened (a warm run over a large repository
only stats); every other file is read, hashed, extracted once per content and stored. Files go in
batches so the cache is written as the run goes and memory stays bounded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from longread.ingest.cache import FileStat, IngestCache
from longread.ingest.discover import (
    DEFAULT_MAX_FILE_BYTES,
    SourceFile,
    discover,
    no_files_message,
)
from longread.ingest.document import Document, DocumentKind, Skipped
from longread.ingest.errors import IngestError
from longread.ingest.isolation import extract_pdfs
from longread.ingest.languages import is_code, language_for
from longread.ingest.pdf import DEFAULT_TIME_LIMIT_S, pdf_reader_version
from longread.ingest.progress import Progress, no_progress
from longread.ingest.textfile import TEXT_READER, Extraction, read_text

_BATCH_FILES = 256


@dataclass(frozen=True)
class Corpus:
    """Every readable document (sorted by path) and every named skip (sorted by path)."""

    documents: tuple[Document, ...]
    skipped: tuple[Skipped, ...]


@dataclass(frozen=True)
class _Options:
    max_file_bytes: int
    pdf_time_limit_s: float
    pdf_reader: str  # the cache key of the PDF reader in use
    isolate_pdfs: bool  # extract PDFs in killable worker processes


@dataclass(frozen=True)
class _Read:
    """A file read in this run: its bytes and their hash."""

    source: SourceFile
    data: bytes
    sha256: str


def read_corpus(
    roots: Sequence[Path],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    cache: IngestCache | None = None,
    progress: Progress = no_progress,
    pdf_time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    isolate_pdfs: bool = True,
) -> Corpus:
    """Discover the files under `roots` and read them into documents, using `cache` when given."""
    discovery = discover(roots, include=include, exclude=exclude, max_file_bytes=max_file_bytes)
    options = _Options(max_file_bytes, pdf_time_limit_s, pdf_reader_version(), isolate_pdfs)
    documents: list[Document] = []
    skipped = list(discovery.skipped)
    total = len(discovery.files)
    progress("reading", 0, total)
    for done, results in _batches(discovery.files, options, cache):
        for result in results:
            (documents if isinstance(result, Document) else skipped).append(result)
        progress("reading", done, total)
    if not documents:
        raise IngestError(no_files_message(roots, [skip.reason for skip in skipped]))
    return Corpus(
        documents=tuple(sorted(documents, key=lambda doc: doc.path)),
        skipped=tuple(sorted(skipped, key=lambda skip: (skip.path, skip.reason))),
    )


def _batches(
    files: Sequence[SourceFile], options: _Options, cache: IngestCache | None
) -> Iterator[tuple[int, list[Document | Skipped]]]:
    for start in range(0, len(files), _BATCH_FILES):
        batch = files[start:start + _BATCH_FILES]
        cached = _from_cache(batch, options, cache) if cache is not None else {}
        missing = [source for source in batch if source.relpath not in cached]
        fresh = _read_and_extract(missing, options, cache)
        yield start + len(batch), [*cached.values(), *fresh]


def _from_cache(
    batch: Sequence[SourceFile], options: _Options, cache: IngestCache
) -> dict[str, Document | Skipped]:
    """The files whose stat and extraction are both in the cache, without opening them."""
    hashes = cache.known_hashes([_file_stat(source) for source in batch])
    keys = {
        source.relpath: (hashes[source.abspath], _reader(source, options))
        for source in batch
        if source.abspath in hashes
    }
    found = cache.get_extractions(keys.values())
    return {
        source.relpath: _result(source, keys[source.relpath][0], found[keys[source.relpath]])
        for source in batch
        if keys.get(source.relpath) in found
    }


def _read_and_extract(
    missing: Sequence[SourceFile], options: _Options, cache: IngestCache | None
) -> list[Document | Skipped]:
    """Read, hash and extract the files the cache could not answer; store what was learnt."""
    results: list[Document | Skipped] = []
    reads: list[_Read] = []
    for source in missing:
        read = _read_bytes(source, options.max_file_bytes)
        (reads if isinstance(read, _Read) else results).append(read)
    keys = [(read.sha256, _reader(read.source, options)) for read in reads]
    known = cache.get_extractions(keys) if cache is not None else {}
    todo = {key: read for read, key in zip(reads, keys, strict=True) if key not in known}
    new = _extract_all(todo, options)
    if cache is not None:
        cache.put_hashes({_file_stat(read.source): read.sha256 for read in reads})
        cache.put_extractions(new)
    extractions = known | new
    results.extend(_result(read.source, read.sha256, extractions[key])
                   for read, key in zip(reads, keys, strict=True))
    return results


def _read_bytes(source: SourceFile, limit: int) -> _Read | Skipped:
    try:
        with open(source.abspath, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        return Skipped(source.relpath, f"unreadable ({exc.strerror or type(exc).__name__})")
    if len(data) > limit:
        return Skipped(source.relpath, f"too large (grew past the {limit:,} byte cap while read)")
    return _Read(source, data, hashlib.sha256(data).hexdigest())


def _extract_all(
    todo: Mapping[tuple[str, str], _Read], options: _Options
) -> dict[tuple[str, str], Extraction]:
    """Text in this process; PDFs in killable worker processes (see ingest/isolation.py)."""
    pdf_keys = [key for key in todo if key[1] != TEXT_READER]
    pdfs = extract_pdfs([todo[key].data for key in pdf_keys],
                        time_limit_s=options.pdf_time_limit_s, isolate=options.isolate_pdfs)
    texts = {key: read_text(read.data) for key, read in todo.items() if key[1] == TEXT_READER}
    return texts | dict(zip(pdf_keys, pdfs, strict=True))


def _result(source: SourceFile, sha256: str, extraction: Extraction) -> Document | Skipped:
    if extraction.skip_reason is not None:
        return Skipped(source.relpath, extraction.skip_reason)
    language = language_for(source.relpath)
    return Document(
        path=source.relpath,
        kind=_kind(source, language),
        sha256=sha256,
        size=source.size,
        sections=extraction.sections,
        language=language,
        notes=extraction.notes,
    )


def _kind(source: SourceFile, language: str | None) -> DocumentKind:
    if _is_pdf(source):
        return "pdf"
    return "code" if is_code(language) else "text"


def _reader(source: SourceFile, options: _Options) -> str:
    """PDFs are recognised by name, so a cache lookup needs no byte of the file."""
    return options.pdf_reader if _is_pdf(source) else TEXT_READER


def _is_pdf(source: SourceFile) -> bool:
    return source.relpath.lower().endswith(".pdf")


def _file_stat(source: SourceFile) -> FileStat:
    return FileStat(source.abspath, source.size, source.mtime_ns, source.inode)
