"""The context pack: documents rendered at their chosen fidelity, exactly counted, with a manifest.

`build_pack` renders every document in full, counts the blocks (through the token cache), and
when a budget is given and the corpus does not fit, ranks the documents and lets ingest/fit.py's
loop choose fidelities and assemble. A document at `path` fidelity is a line of the file tree only
(no block: the tree already carries its id). The pack is verified against its budget as a whole;
same inputs, same bytes.
`split_pack` cuts a pack into shards for map-reduce (see ingest/shard.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

from longread.ingest.document import Document, Skipped
from longread.ingest.fidelity import FULL, SKIPPED
from longread.ingest.fit import Fitter, Plan, full_tree
from longread.ingest.machine_made import held_back
from longread.ingest.ocr import UNAVAILABLE
from longread.ingest.outline import OutlineProvider, default_outlines, with_outline
from longread.ingest.progress import Progress, no_progress
from longread.ingest.redact import Redaction
from longread.ingest.remote import RemoteSource
from longread.ingest.render import BlockLayout, Part, render_block, render_tree
from longread.ingest.styles import PackStyle, pack_style
from longread.ingest.token_counts import TokenCache, count_texts, encode, is_additive
from longread.ingest.tokens import TokenCounter


@dataclass(frozen=True)
class PackBlock:
    """One document's block; `part` names the lines or pages when the document was cut, and
    `shown` says exactly which."""

    path: str
    fidelity: str
    text: str
    tokens: int
    part: str | None = None
    layout: BlockLayout | None = field(default=None, compare=False, repr=False)
    shown: Part | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ManifestEntry:
    """One file of the corpus in the pack. `part`, for a document cut to fit, is exactly what it
    showed: {"unit": "lines" | "pages", "ranges": [[first, last], ...]} (1-based, inclusive),
    with "rest": "outline" when the other definitions are shown as signatures."""

    path: str
    fidelity: str  # full | outline | path | skipped
    tokens: int
    reason: str | None = None
    pages: int | None = None
    part: Part | None = None
    ocr: tuple[tuple[int, float], ...] = ()  # (page, mean confidence) of each page read by OCR

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "path": self.path,
            "fidelity": self.fidelity,
            "tokens": self.tokens,
        }
        part = None if self.part is None else self.part.to_json()
        ocr = [{"page": page, "confidence": conf} for page, conf in self.ocr] or None
        optional = {"reason": self.reason, "pages": self.pages, "part": part, "ocr": ocr}
        return entry | {key: value for key, value in optional.items() if value is not None}


@dataclass(frozen=True)
class Manifest:
    budget: int | None
    tokens: int
    tokenizer: str
    digest: str
    format: str
    documents: tuple[ManifestEntry, ...]
    redactions: tuple[Redaction, ...] = ()  # where secrets were blanked out: never the secret
    sources: tuple[RemoteSource, ...] = ()  # the git URLs (no credentials) and commits read
    ocr: str | None = None  # why pages without a text layer were not read by OCR (said once)

    def to_json(self) -> dict[str, Any]:
        sources: dict[str, Any] = ({"sources": [s.to_json() for s in self.sources]}
                                   if self.sources else {})
        sources |= {"ocr": self.ocr} if self.ocr else {}
        return {
            "budget": self.budget,
            "tokens": self.tokens,
            "tokenizer": self.tokenizer,
            "digest": self.digest,
            "format": self.format,
            "documents": [entry.to_json() for entry in self.documents],
            "redactions": [_redaction_json(r) for r in self.redactions],
        } | sources


def _redaction_json(redaction: Redaction) -> dict[str, Any]:
    found = {"path": redaction.path, "line": redaction.line, "kind": redaction.kind}
    return found if redaction.page is None else {**found, "page": redaction.page}


@dataclass(frozen=True)
class Pack:
    header: str
    blocks: tuple[PackBlock, ...]
    footer: str
    style: PackStyle
    tokens: int
    digest: str
    manifest: Manifest

    @cached_property
    def text(self) -> str:
        return "".join([self.header, *(block.text for block in self.blocks), self.footer])

    @cached_property
    def data(self) -> bytes:
        """The pack as UTF-8 bytes: what `digest` hashes and what gets written out."""
        return encode(self.text)


def build_pack(
    documents: Iterable[Document],
    skipped: Iterable[Skipped] = (),
    *,
    counter: TokenCounter,
    budget: int | None = None,
    query: str | None = None,
    fmt: str = "xml",
    line_numbers: bool = False,
    outlines: OutlineProvider | None = None,
    token_cache: TokenCache | None = None,
    progress: Progress = no_progress,
    scores: Mapping[str, float] | None = None,
    redactions: Sequence[Redaction] = (),
    priority: Callable[[Sequence[Document]], Mapping[str, float]] | None = None,
    vocabularies: Callable[[Document], str | None] | None = None,
) -> Pack:
    """The pack of `documents` (all in full without a budget), never over `budget` tokens.

    Without `scores`, documents are ranked (only when not all fit) by `priority` or else by the
    query, over the documents with their outlines attached (definitions and references);
    `vocabularies` (ingest/vocabulary.py) spares the query ranking scans, never changes it."""
    style = pack_style(fmt)
    docs = sorted(documents, key=lambda document: document.path)
    progress("rendering", 0, len(docs))
    full = {d.path: render_block(d, FULL, style, line_numbers=line_numbers) for d in docs}
    progress("rendering", len(docs), len(docs))
    progress("counting", 0, len(docs))
    encoded = [encode(full[d.path].text) for d in docs]
    texts = [full[d.path].text for d in docs]
    counts = count_texts(texts, counter=counter, cache=token_cache, encoded=encoded)
    progress("counting", len(docs), len(docs))
    skipped = tuple(skipped)
    plan = Plan(
        {d.path: FULL for d in docs},
        full,
        {d.path: n for d, n in zip(docs, counts, strict=True)},
        encoded={d.path: data for d, data in zip(docs, encoded, strict=True)},
        tree=full_tree(docs, skipped),
    )

    def assemble(fitted: Plan) -> Pack:
        return _assemble(
            docs, skipped, fitted, counter=counter, budget=budget, style=style, cache=token_cache,
            redactions=redactions,
        )

    if budget is None:
        return assemble(plan)
    fitter = Fitter(docs, style, counter, token_cache, outlines, plan, skipped=skipped, query=query)
    last = cache(lambda: held_back(docs, query))
    rank = cache(
        lambda: scores if scores is not None
        else rank_by_query(docs, query, outlines, priority=priority, last=last(),
                           vocabularies=vocabularies)
    )
    return fitter.fit(budget, rank, last, assemble)


def rank_by_query(
    docs: Sequence[Document],
    query: str | None,
    outlines: OutlineProvider | None = None,
    *,
    priority: Callable[[Sequence[Document]], Mapping[str, float]] | None = None,
    last: frozenset[str] | None = None,
    vocabularies: Callable[[Document], str | None] | None = None,
) -> Mapping[str, float]:
    """Relevance per path (lexical and symbol-graph rank, or `priority`'s), computed only when not
    all fits; every code document carries its outline first (definitions and references)."""
    from longread.ingest.rank import rank_documents

    provider = outlines or default_outlines
    attached = [with_outline(d, provider) for d in docs]
    if priority is not None:
        return priority(attached)
    return rank_documents(attached, query, last=last, vocabularies=vocabularies)


def _assemble(
    docs: Sequence[Document],
    skipped: Iterable[Skipped],
    plan: Plan,
    *,
    counter: TokenCounter,
    budget: int | None,
    style: PackStyle,
    cache: TokenCache | None,
    redactions: Sequence[Redaction],
) -> Pack:
    header = render_tree(plan.tree, style)
    kept = [d for d in docs if d.path in plan.blocks and plan.choice[d.path] != SKIPPED]
    blocks = tuple(
        PackBlock(
            d.path,
            plan.choice[d.path],
            plan.blocks[d.path].text,
            plan.tokens[d.path],
            plan.parts[d.path].label if d.path in plan.parts else None,
            plan.blocks[d.path].layout,
            plan.parts.get(d.path),
        )
        for d in kept
    )
    entries = _entries(docs, skipped, plan)
    encoded = [None if b.part else plan.encoded.get(b.path) for b in blocks]
    return make_pack(
        header,
        blocks,
        "",
        style=style,
        counter=counter,
        budget=budget,
        entries=entries,
        cache=cache,
        encoded=encoded,
        redactions=redactions,
        ocr=_ocr_note(docs),
    )


def _ocr_note(docs: Sequence[Document]) -> str | None:
    """Why OCR did not read the pages without a text layer, once for the whole pack."""
    notes = sorted({note for d in docs for note in d.notes if note.startswith(UNAVAILABLE)})
    return "; ".join(notes) or None


def _entries(
    docs: Sequence[Document], skipped: Iterable[Skipped], plan: Plan
) -> list[ManifestEntry]:
    entries = [
        ManifestEntry(
            d.path,
            plan.choice[d.path],
            plan.tokens.get(d.path, 0),
            reason="over budget" if plan.choice[d.path] == SKIPPED else None,
            pages=len(d.sections) if d.kind == "pdf" else None,
            part=plan.parts.get(d.path),
            ocr=tuple((s.page or 0, s.ocr_confidence) for s in d.sections
                      if s.ocr_confidence is not None),
        )
        for d in docs
    ]
    return entries + [ManifestEntry(s.path, SKIPPED, 0, reason=s.reason) for s in skipped]


def make_pack(
    header: str,
    blocks: tuple[PackBlock, ...],
    footer: str,
    *,
    style: PackStyle,
    counter: TokenCounter,
    budget: int | None,
    entries: Sequence[ManifestEntry],
    cache: TokenCache | None = None,
    encoded: Sequence[bytes | None] | None = None,
    redactions: Sequence[Redaction] = (),
    ocr: str | None = None,
) -> Pack:
    """A Pack with its exact token count (summed when the tokenizer is additive) and digest;
    `encoded` holds blocks' UTF-8 already made, so a 36 MB pack is encoded once."""
    known = encoded or [None] * len(blocks)
    pieces = [e if e is not None else encode(b.text) for b, e in zip(blocks, known, strict=True)]
    data = b"".join([encode(header), *pieces, encode(footer)])
    if is_additive(counter):
        fixed = count_texts([header, footer], counter=counter, cache=cache)
        tokens = sum(fixed) + sum(block.tokens for block in blocks)
    else:  # counted whole, and cached by the pack's own digest: a warm run loads no tokenizer
        text = data.decode("utf-8", "surrogatepass")
        tokens = count_texts([text], counter=counter, cache=cache, encoded=[data])[0]
    digest = hashlib.sha256(data).hexdigest()
    documents = tuple(
        sorted(entries, key=lambda entry: (entry.path, entry.part.label if entry.part else ""))
    )
    manifest = Manifest(
        budget, tokens, counter.name, digest, style.name, documents, tuple(redactions), ocr=ocr
    )
    pack = Pack(header, blocks, footer, style, tokens, digest, manifest)
    pack.__dict__["data"] = data
    return pack


def with_sources(pack: Pack, sources: Sequence[RemoteSource]) -> Pack:
    """`pack` whose manifest names the remote repositories it was read from (same bytes)."""
    if not sources:
        return pack
    manifest = dataclasses.replace(pack.manifest, sources=tuple(sources))
    sourced = dataclasses.replace(pack, manifest=manifest)
    sourced.__dict__["data"] = pack.data
    return sourced


def split_pack(pack: Pack, max_tokens: int, counter: TokenCounter) -> list[Pack]:
    """Shards of `pack` at document boundaries, each within `max_tokens` (see ingest/shard.py)."""
    from longread.ingest.shard import split

    return split(pack, max_tokens, counter)
