"""The context pack: documents rendered at their chosen fidelity, exactly counted, with a manifest.

`build_pack` renders every document in full, counts the blocks (through the token cache), and
when a budget is given and the corpus does not fit, ranks the documents and lets `fit_to_budget`
choose fidelities. A document at `path` fidelity is a line of the file tree only (no block: the
tree already carries its id). The pack is verified against its budget as a whole; same inputs,
same bytes.
`split_pack` cuts a pack into shards for map-reduce (see ingest/shard.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

from longread.ingest.budget import (
    FULL,
    OUTLINE,
    PATH,
    SKIPPED,
    Candidate,
    TokenCache,
    count_texts,
    encode,
    fill_head,
    fit_to_budget,
    is_additive,
)
from longread.ingest.document import Document, Skipped
from longread.ingest.errors import IngestError, UsageError
from longread.ingest.progress import Progress, no_progress
from longread.ingest.render import (
    BlockLayout,
    RenderedBlock,
    check_format,
    cut_block,
    header_close,
    header_open,
    render_block,
    render_header,
    tree_line,
    unit_spans,
)
from longread.ingest.tokens import TokenCounter

OutlineProvider = Callable[[Document], "str | None"]
_REFITS = 4
_HEAD_TRIES = 8


@dataclass(frozen=True)
class PackBlock:
    """One document's block; `part` names the lines or pages when the document was cut."""

    path: str
    fidelity: str
    text: str
    tokens: int
    part: str | None = None
    layout: BlockLayout | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    fidelity: str  # full | outline | path | skipped
    tokens: int
    reason: str | None = None
    pages: int | None = None
    part: str | None = None

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "path": self.path,
            "fidelity": self.fidelity,
            "tokens": self.tokens,
        }
        optional = {"reason": self.reason, "pages": self.pages, "part": self.part}
        return entry | {key: value for key, value in optional.items() if value is not None}


@dataclass(frozen=True)
class Manifest:
    budget: int | None
    tokens: int
    tokenizer: str
    digest: str
    format: str
    documents: tuple[ManifestEntry, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "tokens": self.tokens,
            "tokenizer": self.tokenizer,
            "digest": self.digest,
            "format": self.format,
            "documents": [entry.to_json() for entry in self.documents],
        }


@dataclass(frozen=True)
class Pack:
    header: str
    blocks: tuple[PackBlock, ...]
    footer: str
    fmt: str
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


@dataclass
class _Plan:
    """Per-document choices while fitting: fidelity, its rendered block and exact cost."""

    choice: dict[str, str]
    blocks: dict[str, RenderedBlock]
    tokens: dict[str, int]
    parts: dict[str, str] = field(default_factory=dict)
    encoded: dict[str, bytes] = field(default_factory=dict)  # UTF-8 of whole full blocks


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
) -> Pack:
    """The pack of `documents` (all in full without a budget), never over `budget` tokens."""
    check_format(fmt)
    docs = sorted(documents, key=lambda document: document.path)
    progress("rendering", 0, len(docs))
    full = {d.path: render_block(d, FULL, fmt, line_numbers=line_numbers) for d in docs}
    progress("rendering", len(docs), len(docs))
    progress("counting", 0, len(docs))
    encoded = [encode(full[d.path].text) for d in docs]
    texts = [full[d.path].text for d in docs]
    counts = count_texts(texts, counter=counter, cache=token_cache, encoded=encoded)
    progress("counting", len(docs), len(docs))
    plan = _Plan(
        {d.path: FULL for d in docs},
        full,
        {d.path: n for d, n in zip(docs, counts, strict=True)},
        encoded={d.path: data for d, data in zip(docs, encoded, strict=True)},
    )
    if budget is None:
        return _assemble(
            docs, skipped, plan, counter=counter, budget=None, fmt=fmt, cache=token_cache
        )
    context = _FitContext(docs, fmt, counter, token_cache, outlines, line_numbers, plan)
    rank = cache(lambda: scores if scores is not None else _rank(docs, query))
    shrink = 0
    for _ in range(_REFITS):
        fitted = context.fit(budget - shrink, rank)
        pack = _assemble(
            docs, skipped, fitted, counter=counter, budget=budget, fmt=fmt, cache=token_cache
        )
        if pack.tokens <= budget:
            return pack
        shrink += pack.tokens - budget
    raise IngestError(f"cannot fit the pack into {budget} tokens with tokenizer {counter.name}")


class _FitContext:
    """What fitting needs about the documents, computed once and reused across refits."""

    def __init__(
        self,
        docs: list[Document],
        fmt: str,
        counter: TokenCounter,
        cache: TokenCache | None,
        outlines: OutlineProvider | None,
        line_numbers: bool,
        full: _Plan,
    ) -> None:
        self.docs, self.fmt, self.counter, self.cache = docs, fmt, counter, cache
        self.outlines = outlines or default_outlines
        self.full = full
        self.by_path = {document.path: document for document in docs}
        self.fixed = counter.count(header_open(fmt) + header_close(fmt))
        paths = [document.path for document in docs]
        lines = counter.count_many([tree_line(p, f) for f in (FULL, OUTLINE, PATH) for p in paths])
        n = len(paths)
        self.line = {
            fidelity: dict(zip(paths, lines[i * n : (i + 1) * n], strict=True))
            for i, fidelity in enumerate((FULL, OUTLINE, PATH))
        }
        self.outline_blocks: dict[str, tuple[RenderedBlock, int] | None] = {}

    def fit(self, budget: int, rank: Callable[[], Mapping[str, float]]) -> _Plan:
        available = budget - self.fixed
        if available < 0:
            raise UsageError(
                f"budget {budget} is below the pack's fixed overhead of {self.fixed} tokens"
            )
        candidates = [
            Candidate(p, self.line[FULL][p] + self.full.tokens[p], self.line[PATH][p])
            for p in self.by_path
        ]
        if sum(candidate.full for candidate in candidates) <= available:
            return self.full
        scores = rank()
        ranked = sorted(candidates, key=lambda c: (-scores.get(c.path, 0.0), c.path))
        choice = fit_to_budget(ranked, available=available, outline_cost=self._outline_cost)
        plan = self._plan(choice)
        self._fill_head(plan, [c.path for c in ranked], available)
        return plan

    def _outline_cost(self, path: str) -> int | None:
        outline = self._outline(path)
        return None if outline is None else self.line[OUTLINE][path] + outline[1]

    def _outline(self, path: str) -> tuple[RenderedBlock, int] | None:
        if path not in self.outline_blocks:
            document = self.by_path[path]
            text = self.outlines(document)
            block = None if not text else render_block(document, OUTLINE, self.fmt, outline=text)
            self.outline_blocks[path] = None if block is None else (block, self._count(block.text))
        return self.outline_blocks[path]

    def _count(self, text: str) -> int:
        return count_texts([text], counter=self.counter, cache=self.cache)[0]

    def _plan(self, choice: dict[str, str]) -> _Plan:
        plan = _Plan(choice, {}, {})
        for path, fidelity in choice.items():
            if fidelity == FULL:
                block, tokens = self.full.blocks[path], self.full.tokens[path]
            elif fidelity == OUTLINE:
                outline = self._outline(path)
                assert outline is not None, "outline fidelity is only chosen when an outline exists"
                block, tokens = outline
            else:
                continue
            plan.blocks[path], plan.tokens[path] = block, tokens
        return plan

    def _cost(self, plan: _Plan, path: str) -> int:
        fidelity = plan.choice[path]
        return 0 if fidelity == SKIPPED else self.line[fidelity][path] + plan.tokens.get(path, 0)

    def _fill_head(self, plan: _Plan, ranked: list[str], available: int) -> None:
        """Spend the slack on the head (leading lines or pages) of the best document not in full."""
        slack = available - sum(self._cost(plan, path) for path in plan.choice)
        tries = [path for path in ranked if plan.choice[path] != FULL][:_HEAD_TRIES]
        for path in tries:
            block = self.full.blocks[path]
            spans = unit_spans(block.text, block.layout)
            current = self._cost(plan, path)

            def cost_of(
                k: int, block: RenderedBlock = block, spans: list = spans, path: str = path
            ) -> int:
                cut, part = cut_block(block.text, block.layout, spans[:k], self.fmt)
                return self.counter.count(tree_line(path, FULL, part)) + self.counter.count(
                    cut.text
                )

            k = (
                fill_head(cost_of, len(spans) - 1, allowance=current + slack)
                if len(spans) > 1
                else 0
            )
            if k and cost_of(k) > current:
                cut, part = cut_block(block.text, block.layout, spans[:k], self.fmt)
                plan.choice[path], plan.parts[path] = FULL, part
                plan.blocks[path], plan.tokens[path] = cut, self.counter.count(cut.text)
                return


def _rank(docs: Sequence[Document], query: str | None) -> Mapping[str, float]:
    from longread.ingest.rank import rank_documents

    return rank_documents(docs, query)


def default_outlines(document: Document) -> str | None:
    """The document's outline as text: its own if read with one, else extracted now."""
    from longread.ingest.languages import OUTLINED
    from longread.ingest.outline import extract_outline, format_outline

    outline = document.outline
    if outline is None and document.kind == "code" and document.language in OUTLINED:
        outline = extract_outline(document.text, document.language)
    return (
        None
        if outline is None or not outline.symbols
        else format_outline(outline, path=document.path)
    )


def _assemble(
    docs: Sequence[Document],
    skipped: Iterable[Skipped],
    plan: _Plan,
    *,
    counter: TokenCounter,
    budget: int | None,
    fmt: str,
    cache: TokenCache | None,
) -> Pack:
    listed = [d for d in docs if plan.choice[d.path] != SKIPPED]
    header = render_header(
        [(d.path, plan.choice[d.path], plan.parts.get(d.path)) for d in listed], fmt
    )
    kept = [d for d in listed if d.path in plan.blocks]
    blocks = tuple(
        PackBlock(
            d.path,
            plan.choice[d.path],
            plan.blocks[d.path].text,
            plan.tokens[d.path],
            plan.parts.get(d.path),
            plan.blocks[d.path].layout,
        )
        for d in kept
    )
    entries = _entries(docs, skipped, plan)
    encoded = [None if b.part else plan.encoded.get(b.path) for b in blocks]
    return make_pack(
        header,
        blocks,
        "",
        fmt=fmt,
        counter=counter,
        budget=budget,
        entries=entries,
        cache=cache,
        encoded=encoded,
    )


def _entries(
    docs: Sequence[Document], skipped: Iterable[Skipped], plan: _Plan
) -> list[ManifestEntry]:
    entries = [
        ManifestEntry(
            d.path,
            plan.choice[d.path],
            plan.tokens.get(d.path, 0),
            reason="over budget" if plan.choice[d.path] == SKIPPED else None,
            pages=len(d.sections) if d.kind == "pdf" else None,
            part=plan.parts.get(d.path),
        )
        for d in docs
    ]
    return entries + [ManifestEntry(s.path, SKIPPED, 0, reason=s.reason) for s in skipped]


def make_pack(
    header: str,
    blocks: tuple[PackBlock, ...],
    footer: str,
    *,
    fmt: str,
    counter: TokenCounter,
    budget: int | None,
    entries: Sequence[ManifestEntry],
    cache: TokenCache | None = None,
    encoded: Sequence[bytes | None] | None = None,
) -> Pack:
    """A Pack with its exact token count (summed when the tokenizer is additive) and digest;
    `encoded` holds blocks' UTF-8 already made, so a 36 MB pack is encoded once."""
    known = encoded or [None] * len(blocks)
    pieces = [e if e is not None else encode(b.text) for b, e in zip(blocks, known, strict=True)]
    data = b"".join([encode(header), *pieces, encode(footer)])
    if is_additive(counter):
        fixed = count_texts([header, footer], counter=counter, cache=cache)
        tokens = sum(fixed) + sum(block.tokens for block in blocks)
    else:
        tokens = counter.count(data.decode("utf-8", "surrogatepass"))
    digest = hashlib.sha256(data).hexdigest()
    documents = tuple(sorted(entries, key=lambda entry: (entry.path, entry.part or "")))
    manifest = Manifest(budget, tokens, counter.name, digest, fmt, documents)
    pack = Pack(header, blocks, footer, fmt, tokens, digest, manifest)
    pack.__dict__["data"] = data
    return pack


def split_pack(pack: Pack, max_tokens: int, counter: TokenCounter) -> list[Pack]:
    """Shards of `pack` at document boundaries, each within `max_tokens` (see ingest/shard.py)."""
    from longread.ingest.shard import split

    return split(pack, max_tokens, counter)
