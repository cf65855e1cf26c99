"""Cutting a pack into shards for map-reduce: at document boundaries, and inside a document only
when it alone is bigger than a shard (at line or page boundaries, each part keeping its id).

Every shard repeats the pack's header (the file tree) when it is small next to a shard, else only
the note on citable ids; each shard is a Pack of its own with its exact count and digest.
"""

from __future__ import annotations

from collections.abc import Sequence

from longread.ingest.errors import UsageError
from longread.ingest.pack import ManifestEntry, Pack, PackBlock, make_pack
from longread.ingest.render import cut_block, render_header, unit_spans
from longread.ingest.styles import PackStyle
from longread.ingest.token_counts import count_fresh
from longread.ingest.tokens import TokenCounter

Span = tuple[int, int, int]


def split(pack: Pack, max_tokens: int, counter: TokenCounter) -> list[Pack]:
    """Shards of `pack`, in order, each of at most `max_tokens` tokens."""
    header = pack.header
    if counter.count(header) + counter.count(pack.footer) > max_tokens // 2:
        header = render_header((), pack.style, with_tree=False)
    capacity = max_tokens - counter.count(header) - counter.count(pack.footer)
    if capacity <= 0:
        raise UsageError(f"shards of {max_tokens} tokens cannot hold even the pack's header")
    pieces = [
        piece for block in pack.blocks for piece in _pieces(block, capacity, counter, pack.style)
    ]
    shards: list[Pack] = []
    start = 0
    while start < len(pieces):
        end, total = start, 0
        while end < len(pieces) and (end == start or total + pieces[end].tokens <= capacity):
            total += pieces[end].tokens
            end += 1
        shard = _shard(header, pieces[start:end], pack, max_tokens, counter)
        while shard.tokens > max_tokens and end > start + 1:
            end -= 1
            shard = _shard(header, pieces[start:end], pack, max_tokens, counter)
        shards.append(shard)
        start = end
    return shards


def _shard(
    header: str, pieces: Sequence[PackBlock], pack: Pack, max_tokens: int, counter: TokenCounter
) -> Pack:
    entries = [ManifestEntry(p.path, p.fidelity, p.tokens, part=p.shown) for p in pieces]
    return make_pack(
        header,
        tuple(pieces),
        pack.footer,
        style=pack.style,
        counter=counter,
        budget=max_tokens,
        entries=entries,
    )


def _pieces(
    block: PackBlock, capacity: int, counter: TokenCounter, style: PackStyle
) -> list[PackBlock]:
    """The block itself when it fits a shard, else consecutive parts that each fit."""
    if block.tokens <= capacity or block.layout is None:
        return [block]
    layout = block.layout
    spans = unit_spans(block.text, layout)
    first, _ = cut_block(block.text, layout, spans[:1], style)
    wrapper = counter.count(first.text) - counter.count(_span_text(block.text, spans[0]))
    spans = _refine(block.text, spans, max(1, capacity - wrapper), counter)
    sizes = count_fresh([_span_text(block.text, span) for span in spans], counter)
    parts: list[PackBlock] = []
    start = 0
    while start < len(spans):
        end, total = start, wrapper
        while end < len(spans) and (end == start or total + sizes[end] <= capacity):
            total += sizes[end]
            end += 1
        while True:
            cut, part = cut_block(block.text, layout, spans[start:end], style)
            tokens = counter.count(cut.text)
            if tokens <= capacity:
                break
            if end == start + 1:
                halves = _refine(block.text, spans[start:end], max(1, sizes[start] // 2), counter)
                spans[start:end] = halves
                sizes[start:end] = count_fresh([_span_text(block.text, s) for s in halves], counter)
                end = start + 1
                continue
            end -= max(1, (end - start) // 8)
        parts.append(
            PackBlock(block.path, block.fidelity, cut.text, tokens, part.label, cut.layout, part)
        )
        start = end
    return parts


def _refine(text: str, spans: list[Span], limit: int, counter: TokenCounter) -> list[Span]:
    """Spans no bigger than `limit` tokens: an oversize line or page is halved (at a newline
    near its middle when there is one) until each half fits."""
    sizes = count_fresh([_span_text(text, span) for span in spans], counter)
    if all(size <= limit for size in sizes):
        return spans
    refined: list[Span] = []
    for span, size in zip(spans, sizes, strict=True):
        start, end, number = span
        if size <= limit or end - start < 2:
            refined.append(span)
            continue
        middle = (start + end) // 2
        newline = text.rfind("\n", start, middle)
        cut = newline + 1 if newline > start else middle
        refined.extend(_refine(text, [(start, cut, number), (cut, end, number)], limit, counter))
    return refined


def _span_text(text: str, span: Span) -> str:
    return text[span[0] : span[1]]
