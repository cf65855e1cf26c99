"""Fitting a pack to its budget: exact costs per document and fidelity, the greedy choice of
`fit_to_budget`, then the head of one more document for the slack.

Outlines are asked for (through the provider) only for documents that cannot go in full.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from longread.ingest.budget import (
    FULL,
    OUTLINE,
    PATH,
    SKIPPED,
    Candidate,
    TokenCache,
    count_fresh,
    count_texts,
    fill_head,
    fit_to_budget,
)
from longread.ingest.document import Document
from longread.ingest.errors import UsageError
from longread.ingest.render import (
    RenderedBlock,
    cut_block,
    header_close,
    header_open,
    render_block,
    tree_line,
    unit_spans,
)
from longread.ingest.tokens import TokenCounter

OutlineProvider = Callable[[Document], "str | None"]
_HEAD_TRIES = 8


@dataclass
class Plan:
    """Per-document choices while fitting: fidelity, its rendered block and exact cost."""

    choice: dict[str, str]
    blocks: dict[str, RenderedBlock]
    tokens: dict[str, int]
    parts: dict[str, str] = field(default_factory=dict)
    encoded: dict[str, bytes] = field(default_factory=dict)  # UTF-8 of whole full blocks


class Fitter:
    """What fitting needs about the documents, computed once and reused across refits."""

    def __init__(
        self,
        docs: list[Document],
        fmt: str,
        counter: TokenCounter,
        cache: TokenCache | None,
        outlines: OutlineProvider | None,
        full: Plan,
    ) -> None:
        self.docs, self.fmt, self.counter, self.cache = docs, fmt, counter, cache
        self.outlines = outlines or default_outlines
        self.full = full
        self.by_path = {document.path: document for document in docs}
        self.fixed = counter.count(header_open(fmt) + header_close(fmt))
        paths = [document.path for document in docs]
        lines = count_fresh(
            [tree_line(p, f) for f in (FULL, OUTLINE, PATH) for p in paths], counter
        )
        n = len(paths)
        self.line = {
            fidelity: dict(zip(paths, lines[i * n : (i + 1) * n], strict=True))
            for i, fidelity in enumerate((FULL, OUTLINE, PATH))
        }
        self.outline_blocks: dict[str, tuple[RenderedBlock, int] | None] = {}

    def fit(self, budget: int, rank: Callable[[], Mapping[str, float]]) -> Plan:
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

    def _plan(self, choice: dict[str, str]) -> Plan:
        plan = Plan(choice, {}, {})
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

    def _cost(self, plan: Plan, path: str) -> int:
        fidelity = plan.choice[path]
        return 0 if fidelity == SKIPPED else self.line[fidelity][path] + plan.tokens.get(path, 0)

    def _fill_head(self, plan: Plan, ranked: list[str], available: int) -> None:
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


def rank_by_query(docs: Sequence[Document], query: str | None) -> Mapping[str, float]:
    """Relevance per path (lexical and symbol-graph rank), computed only when not all fits."""
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
