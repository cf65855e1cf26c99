"""The `pack` job: read a corpus through the ingest cache and build its token-budgeted context pack.

Scanned (redacted) text, outlines and symbols (of the redacted text) and token counts come from the
ingest cache when it has them, so a warm run over an unchanged repository neither re-reads,
re-scans, re-parses nor re-tokenizes anything; symbols are read or made only when not everything
fits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from longread.analysis.config import Settings
from longread.ingest.cache import IngestCache
from longread.ingest.corpus import read_corpus
from longread.ingest.corpus_spec import CorpusSpec
from longread.ingest.document import Document, Skipped
from longread.ingest.errors import UsageError
from longread.ingest.outline import OUTLINER_VERSION
from longread.ingest.pack import Manifest, Pack, build_pack, with_sources
from longread.ingest.pdf import pdf_reader_version
from longread.ingest.progress import Progress, no_progress
from longread.ingest.redact import REDACTOR_VERSION
from longread.ingest.redact_corpus import RedactedCorpus, rename
from longread.ingest.remote import source_of
from longread.ingest.symbols import Symbols
from longread.ingest.textfile import TEXT_READER
from longread.ingest.tokens import CL100K, LazyCounter, TokenCounter, load_counter
from longread.ingest.vocabulary import Vocabularies

if TYPE_CHECKING:  # rich loads only to draw (not on a cache-hit `ask`)
    from rich.console import Console


def pipeline_versions() -> tuple[str, ...]:
    """The readers, outliner and redactor `read_and_pack` runs: a key made before the pack is
    (review's, which packs only on a miss) names them, as a pack's digest does for ask."""
    return (TEXT_READER, pdf_reader_version(), OUTLINER_VERSION, REDACTOR_VERSION)


@dataclass(frozen=True)
class PackedCorpus:
    """A pack and the documents it was made from (redacted when redaction is on): answers'
    citations are checked against exactly what the model saw."""

    documents: tuple[Document, ...]
    skipped: tuple[Skipped, ...]
    pack: Pack


def run_pack(
    settings: Settings,
    corpus: CorpusSpec,
    *,
    budget: int | None = None,
    query: str | None = None,
    fmt: str = "xml",
    line_numbers: bool = False,
    tokenizer_spec: str | None = None,
    use_cache: bool = True,
    progress: Progress = no_progress,
) -> Pack:
    """The context pack of the corpus's files, within `budget` tokens when one is given."""
    return read_and_pack(
        settings, corpus, counter=lazy_counter(tokenizer_spec), budget=budget, query=query,
        fmt=fmt, line_numbers=line_numbers, use_cache=use_cache, progress=progress,
    ).pack


def read_and_pack(
    settings: Settings,
    corpus: CorpusSpec,
    *,
    counter: TokenCounter,
    budget: int | None = None,
    query: str | None = None,
    fmt: str = "xml",
    line_numbers: bool = False,
    progress: Progress = no_progress,
    priority: Callable[[Sequence[Document]], Mapping[str, float]] | None = None,
    use_cache: bool = True,
) -> PackedCorpus:
    """Read (through the ingest cache), keep secrets out unless `settings.redact` is off, pack.

    `use_cache` off: a throwaway in-memory ingest cache (nothing read or kept on disk).

    `priority` scores the (redacted) documents in place of the query ranking: review's selection.
    """
    if budget is not None and budget <= 0:
        raise UsageError(f"the budget must be a positive number of tokens, not {budget}",
                         cli=f"--budget must be a positive number of tokens, not {budget}")
    with IngestCache(settings.ingest_cache if use_cache else None) as cache:
        scrubbed = read_documents(settings, corpus, cache=cache, progress=progress)
        skipped = scrubbed.skipped
        outlines = Symbols(scrubbed.documents, cache, uncached=scrubbed.unclean)
        vocabularies = Vocabularies(scrubbed.documents, cache, uncached=scrubbed.unclean)
        pack = build_pack(
            scrubbed.documents,
            skipped,
            counter=counter,
            budget=budget,
            query=query,
            fmt=fmt,
            line_numbers=line_numbers,
            outlines=outlines,
            token_cache=cache,
            progress=progress,
            redactions=scrubbed.redactions,
            priority=priority,
            vocabularies=vocabularies,
        )
        outlines.flush()
        vocabularies.flush()
    sources = [source_of(root, settings.cache_dir) for root in corpus.roots]
    pack = with_sources(pack, [source for source in sources if source is not None])
    return PackedCorpus(scrubbed.documents, skipped, pack)


def read_documents(
    settings: Settings,
    corpus: CorpusSpec,
    *,
    cache: IngestCache,
    progress: Progress = no_progress,
) -> RedactedCorpus:
    """The corpus as the pack shows it: read through `cache`, secrets kept out unless
    `settings.redact` is off; `skipped` holds the skips of both steps, sorted by path."""
    read = read_corpus(corpus, cache=cache, progress=progress, redact=settings.redact)
    if settings.redact:  # file names too: ids, tree and manifest show the redacted paths
        return rename(read.documents, read.skipped, read.redactions, cache)
    skipped = tuple(sorted(read.skipped, key=lambda s: s.path))
    return RedactedCorpus(read.documents, skipped, (), read.unclean)


def lazy_counter(spec: str | None) -> TokenCounter:
    """cl100k loads lazily (its name is known up front); a model's tokenizer loads now."""
    if spec in (None, "", CL100K, "cl100k_base"):
        return LazyCounter(CL100K, lambda: load_counter(spec))
    return load_counter(spec)


def render_stats(manifest: Manifest, console: Console, *, top: int = 15) -> None:
    """The largest documents by tokens and the totals per fidelity, as tables on `console`."""
    from rich.table import Table

    shown = [entry for entry in manifest.documents if entry.tokens > 0]
    largest = sorted(shown, key=lambda entry: (-entry.tokens, entry.path))[:top]
    table = Table(title=f"Largest {len(largest)} documents")
    for column, justify in (("tokens", "right"), ("fidelity", "left"), ("path", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for entry in largest:
        table.add_row(f"{entry.tokens:,}", entry.fidelity, entry.path)
    console.print(table)
    totals = Table(title="Totals")
    for column in ("fidelity", "documents", "tokens"):
        totals.add_column(column, justify="left" if column == "fidelity" else "right")
    for fidelity in ("full", "outline", "path", "skipped"):
        entries = [entry for entry in manifest.documents if entry.fidelity == fidelity]
        totals.add_row(fidelity, f"{len(entries):,}", f"{sum(e.tokens for e in entries):,}")
    budget = f" of {manifest.budget:,}" if manifest.budget else ""
    totals.add_row("pack", f"{len(manifest.documents):,}", f"{manifest.tokens:,}{budget}")
    console.print(totals)
