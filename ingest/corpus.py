"""The corpus as `Document`s: discover the files, then read, scan and cache each one, or take it
from the cache.

A file whose stat matches the cache's stat index is never opened (a warm run over a large repository
only stats); every other file is read, hashed, extracted once per content and scanned for secrets
(ingest/redact_corpus.py) before anything of it is stored, so the cache holds only redacted text,
and never a secrets file. A `--no-redact` run (`redact` off) reads the same cache, but takes from it
only the files the scan found clean, and reads the others (and secrets files) again.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from longread.ingest.cache import FileStat, IngestCache, Scanned, scan_key
from longread.ingest.corpus_spec import CorpusSpec
from longread.ingest.discover import SourceFile, discover, no_files_message
from longread.ingest.document import Document, DocumentKind, Skipped
from longread.ingest.documents import documents_reader_version
from longread.ingest.errors import IngestError
from longread.ingest.isolation import extract_files
from longread.ingest.languages import is_code, language_for
from longread.ingest.ocr import Engine, Fresh, engine, read_scans
from longread.ingest.pdf import DEFAULT_TIME_LIMIT_S, pdf_reader_version
from longread.ingest.places import format_of
from longread.ingest.progress import Progress, no_progress
from longread.ingest.redact import REDACTOR_VERSION, Redaction
from longread.ingest.redact_corpus import (
    Outcome,
    may_be_secret_file,
    redact_each,
    skip_secret_files,
)
from longread.ingest.textfile import TEXT_READER, Extraction, read_text

_BATCH_FILES = 256


@dataclass(frozen=True)
class Corpus:
    """Every readable document (sorted by path), every named skip (sorted by path), what was
    redacted, and (redaction off) the documents whose text holds a secret: nothing made of their
    text may be cached."""

    documents: tuple[Document, ...]
    skipped: tuple[Skipped, ...]
    redactions: tuple[Redaction, ...] = ()
    unclean: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Options:
    max_file_bytes: int
    pdf_time_limit_s: float
    pdf_reader: str  # the cache key of the PDF reader in use
    isolate_pdfs: bool  # extract PDFs in killable worker processes
    redact: bool  # off: the cache serves only clean files, and the pack gets plaintext
    # the OCR engine, probed at the first PDF (a corpus without PDFs runs no `tesseract`)
    ocr: Callable[[], Engine] = field(default=engine, compare=False)


@dataclass(frozen=True)
class _Read:
    """A file read in this run: its bytes and their hash."""

    source: SourceFile
    data: bytes
    sha256: str


@dataclass(frozen=True)
class _Fresh:
    """A file extracted in this run and not yet scanned; `key` None: never cached."""

    key: str | None
    result: Document | Skipped
    ocr: Fresh = field(default_factory=dict)  # pages recognised in this run (cached if clean)


def read_corpus(
    corpus: CorpusSpec,
    *,
    cache: IngestCache | None = None,
    progress: Progress = no_progress,
    pdf_time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    isolate_pdfs: bool = True,
    redact: bool = True,
) -> Corpus:
    """Discover the corpus's files and read them into documents, using `cache` when given;
    `redact` off: secrets stay in (`--no-redact`)."""
    discovery = discover(corpus)
    files, skipped = (
        skip_secret_files(discovery.files) if redact else (list(discovery.files), [])
    )
    options = _Options(corpus.max_file_bytes, pdf_time_limit_s, pdf_reader_version(),
                       isolate_pdfs, redact, functools.cache(engine))
    outcomes: list[Outcome] = []
    fresh: list[_Fresh] = []
    progress("reading", 0, len(files))
    for done, (known, extracted) in _batches(files, options, cache):
        outcomes.extend(known)
        fresh.extend(extracted)
        progress("reading", done, len(files))
    scanned, unclean = _scan(fresh, options, cache, progress)
    return _assemble(corpus.roots, [*outcomes, *scanned], [*discovery.skipped, *skipped], unclean)


def _assemble(
    roots: Sequence[Path], outcomes: Sequence[Outcome], skipped: list[Skipped],
    unclean: frozenset[str],
) -> Corpus:
    documents: list[Document] = []
    redactions: list[Redaction] = []
    for result, found in outcomes:
        (documents if isinstance(result, Document) else skipped).append(result)
        redactions.extend(found)
    if not documents:
        raise IngestError(no_files_message(roots, [skip.reason for skip in skipped]))
    documents.sort(key=lambda doc: doc.path)
    order = {doc.path: n for n, doc in enumerate(documents)}
    return Corpus(
        documents=tuple(documents),
        skipped=tuple(sorted(skipped, key=lambda skip: (skip.path, skip.reason))),
        redactions=tuple(sorted(redactions, key=lambda r: order[r.path])),
        unclean=unclean,
    )


def _batches(
    files: Sequence[SourceFile], options: _Options, cache: IngestCache | None
) -> Iterator[tuple[int, tuple[list[Outcome], list[_Fresh]]]]:
    for start in range(0, len(files), _BATCH_FILES):
        batch = files[start:start + _BATCH_FILES]
        cached = _from_cache(batch, options, cache) if cache is not None else {}
        missing = [source for source in batch if source.relpath not in cached]
        known, fresh = _read_and_extract(missing, options, cache)
        yield start + len(batch), ([*cached.values(), *known], fresh)


def _from_cache(
    batch: Sequence[SourceFile], options: _Options, cache: IngestCache
) -> dict[str, Outcome]:
    """The files whose stat and scanned text are both in the cache, without opening them."""
    cachable = [source for source in batch if not may_be_secret_file(source.relpath)]
    hashes = cache.known_hashes([_file_stat(source) for source in cachable])
    keys = {
        source.relpath: _key(source, hashes[source.abspath], options)
        for source in cachable
        if source.abspath in hashes
    }
    found = cache.get_scanned(keys.values())
    return {
        source.relpath: _outcome(source, hashes[source.abspath], found[keys[source.relpath]])
        for source in cachable
        if _usable(found.get(keys.get(source.relpath, "")), options)
    }


def _usable(item: Scanned | None, options: _Options) -> bool:
    """A scanned file serves a redacting run; a run without redaction only if nothing was found."""
    return item is not None and (options.redact or not item.secrets)


def _read_and_extract(
    missing: Sequence[SourceFile], options: _Options, cache: IngestCache | None
) -> tuple[list[Outcome], list[_Fresh]]:
    """Read and hash the files the stat index could not answer; take what the cache knows of
    their content (a moved or touched file), extract the rest once per content."""
    outcomes: list[Outcome] = []
    reads: list[_Read] = []
    for source in missing:
        read = _read_bytes(source, options.max_file_bytes)
        if isinstance(read, _Read):
            reads.append(read)
        else:
            outcomes.append((read, ()))
    keys = [None if may_be_secret_file(read.source.relpath)
            else _key(read.source, read.sha256, options) for read in reads]
    known = cache.get_scanned(key for key in keys if key) if cache is not None else {}
    if cache is not None:
        cache.put_hashes({_file_stat(read.source): read.sha256
                          for read, key in zip(reads, keys, strict=True) if key})
    todo: list[tuple[_Read, str | None]] = []
    for read, key in zip(reads, keys, strict=True):
        if key and _usable(known.get(key), options):
            outcomes.append(_outcome(read.source, read.sha256, known[key]))
        else:
            todo.append((read, key))
    extractions, ocr = _extract_all({_content(read, options): read for read, _ in todo},
                                    options, cache)
    return outcomes, [
        # known to hold a secret (redaction off): neither scanned again nor stored
        _Fresh(None if key in known else key,
               _result(read.source, read.sha256, extractions[_content(read, options)]),
               ocr.get(_content(read, options), {}))
        for read, key in todo
    ]


def _content(read: _Read, options: _Options) -> tuple[str, str]:
    """What one extraction is made of: the bytes and the reader (a copy is extracted once)."""
    return read.sha256, _reader(read.source, options)


def _scan(
    fresh: Sequence[_Fresh], options: _Options, cache: IngestCache | None, progress: Progress
) -> tuple[list[Outcome], frozenset[str]]:
    """The files extracted in this run, scanned all at once (on both cores when large) and
    cached as scanned; redaction off, the run keeps their plaintext and the names of those that
    hold a secret (or may: a secrets file)."""
    picked = [(n, item.result) for n, item in enumerate(fresh)
              if isinstance(item.result, Document) and (options.redact or item.key is not None)]
    scanned = redact_each([doc for _, doc in picked], progress=progress)
    outcomes: list[Outcome] = [(item.result, ()) for item in fresh]
    for (n, _), outcome in zip(picked, scanned, strict=True):
        outcomes[n] = outcome
    if cache is not None:
        cache.put_scanned({item.key: _scanned(outcome)
                           for item, outcome in zip(fresh, outcomes, strict=True) if item.key})
        # OCR text rests in the cache only when the scan found no secret in its document
        cache.put_ocr({page: text for item, (_, found) in zip(fresh, outcomes, strict=True)
                       if item.key and not found for page, text in item.ocr.items()})
    if options.redact:
        return outcomes, frozenset()
    unclean = {item.result.path for item, (_, found) in zip(fresh, outcomes, strict=True)
               if isinstance(item.result, Document) and (item.key is None or found)}
    return [(item.result, ()) for item in fresh], frozenset(unclean)


def _scanned(outcome: Outcome) -> Scanned:
    """What the cache keeps of a scanned file: its redacted text, or why it was skipped."""
    result, found = outcome
    if isinstance(result, Skipped):
        return Scanned(Extraction(skip_reason=result.reason))
    extraction = Extraction(sections=result.sections, notes=result.notes)
    return Scanned(extraction, tuple((r.line, r.kind, r.page) for r in found))


def _outcome(source: SourceFile, sha256: str, item: Scanned) -> Outcome:
    result = _result(source, sha256, item.extraction)
    found = tuple(Redaction(source.relpath, line, kind, page) for line, kind, page in item.secrets)
    return result, found


def _key(source: SourceFile, sha256: str, options: _Options) -> str:
    name = source.relpath.rpartition("/")[2]
    return scan_key(sha256, _reader(source, options), REDACTOR_VERSION, name)


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
    todo: Mapping[tuple[str, str], _Read], options: _Options, cache: IngestCache | None
) -> tuple[dict[tuple[str, str], Extraction], dict[tuple[str, str], Fresh]]:
    """Text in this process; PDFs, docx, web pages, e-books and notebooks in killable worker
    processes (see ingest/isolation.py), a PDF's pages without a text layer through OCR
    (ingest/ocr.py)."""
    placed = [key for key in todo if key[1] != TEXT_READER]
    kinds = [_format_kind(todo[key].source) or "" for key in placed]
    ocr = options.ocr() if "pdf" in kinds else None
    extracted = extract_files([(kind, todo[key].data) for kind, key in zip(kinds, placed,
                                                                            strict=True)],
                              time_limit_s=options.pdf_time_limit_s, isolate=options.isolate_pdfs,
                              render=ocr is not None and ocr.available)
    fresh: dict[tuple[str, str], Fresh] = {}
    if ocr is not None:
        pdf_keys = [key for kind, key in zip(kinds, placed, strict=True) if kind == "pdf"]
        by_key = dict(zip(placed, extracted, strict=True))
        scanned, found = read_scans([by_key[key] for key in pdf_keys], ocr, cache)
        by_key |= dict(zip(pdf_keys, scanned, strict=True))
        extracted = [by_key[key] for key in placed]
        fresh = dict(zip(pdf_keys, found, strict=True))
    texts = {key: read_text(read.data) for key, read in todo.items() if key[1] == TEXT_READER}
    return texts | dict(zip(placed, extracted, strict=True)), fresh


def _result(source: SourceFile, sha256: str, extraction: Extraction) -> Document | Skipped:
    if extraction.skip_reason is not None:
        return Skipped(source.relpath, extraction.skip_reason)
    language = language_for(source.relpath)
    return Document(
        path=source.relpath,
        kind=_kind(source, language, extraction),
        sha256=sha256,
        size=source.size,
        sections=extraction.sections,
        language=language,
        notes=extraction.notes,
    )


def _kind(source: SourceFile, language: str | None, extraction: Extraction) -> DocumentKind:
    """A PDF, or a format whose reader found places (a web page template stays code)."""
    kind = _format_kind(source)
    if kind == "pdf" or any(section.place for section in extraction.sections):
        return cast(DocumentKind, kind)
    return "code" if is_code(language) else "text"


def _reader(source: SourceFile, options: _Options) -> str:
    """Formats are recognised by name, so a cache lookup needs no byte of the file."""
    kind = _format_kind(source)
    if kind is None:
        return TEXT_READER
    if kind == "pdf":
        return f"{options.pdf_reader}+{options.ocr().identity}"  # what OCR read is in the text too
    return documents_reader_version(kind)


def _format_kind(source: SourceFile) -> str | None:
    fmt = format_of(source.relpath)
    return None if fmt is None else fmt.kind


def _file_stat(source: SourceFile) -> FileStat:
    return FileStat(source.abspath, source.size, source.mtime_ns, source.inode)
