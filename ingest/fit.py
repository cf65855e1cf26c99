"""Fitting a pack to its budget: exact costs per document and fidelity, the greedy choice of
`fit_to_budget`, a file tree folded to its share, then one more document cut for the slack.

One loop, `Fitter.fit`: plan, assemble, count the pack whole, and plan again within less when a
tokenizer's counts do not add up across pieces (cl100k's do: one round).

Outlines (and the symbol graph that ranks) are asked for only when not everything fits. A relevant
document too large for the budget keeps the definitions the query names, in full, with the rest
of it as an outline (see ingest/focus.py), instead of its first lines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol, TypeVar

from longread.ingest.document import Document, Outline, Skipped
from longread.ingest.errors import IngestError, UsageError
from longread.ingest.fidelity import (
    FULL,
    OUTLINE,
    PATH,
    SKIPPED,
    Candidate,
    fill_head,
    fit_to_budget,
)
from longread.ingest.focus import focus_regions
from longread.ingest.listing import (
    SKIPPED_SHARE,
    TREE_SHARE,
    Line,
    fold_tree,
    skipped_lines,
    tree,
)
from longread.ingest.outline import (
    OutlineProvider,
    default_outlines,
    format_outline,
    outline_lines,
)
from longread.ingest.render import (
    Part,
    RenderedBlock,
    cut_block,
    focus_block,
    render_block,
    tree_line,
    unit_spans,
)
from longread.ingest.styles import PackStyle
from longread.ingest.token_counts import (
    CachedCounter,
    TokenCache,
    count_fresh,
    counts_each_through_cache,
)
from longread.ingest.tokens import TokenCounter

_REFITS = 4  # rounds of the fitting loop before a pack that will not fit is an error
_HEAD_TRIES = 8  # documents tried for the head that fills the slack
_FOCUS_TRIES = 8  # documents too large for the budget tried for their relevant regions
_FOCUS_SHARE = 2  # a focused document's regions beyond its best take at most this part of the rest
_OUTLINE_SHARE = 4  # a focused document's outline may take this part of what is left, or more
_CHARS_PER_TOKEN = 8  # twice what code averages: an outline longer than this per token left is out


class _Counted(Protocol):
    """What the fitting loop needs of an assembled pack: its exact token count."""

    @property
    def tokens(self) -> int: ...


Measured = TypeVar("Measured", bound=_Counted)


@dataclass(frozen=True)
class _Focus:
    """A document cut to its relevant regions: block, part, block tokens, cost with its tree
    line, and what can widen it (its regions and its outline lines, nearest first)."""

    block: RenderedBlock
    part: Part
    tokens: int
    cost: int
    kept: list[tuple[int, int]]
    nearest: list[tuple[int, str]]


@dataclass
class Plan:
    """Per-document choices while fitting: fidelity, its rendered block and exact cost, and the
    file tree's lines."""

    choice: dict[str, str]
    blocks: dict[str, RenderedBlock]
    tokens: dict[str, int]
    parts: dict[str, Part] = field(default_factory=dict)
    encoded: dict[str, bytes] = field(default_factory=dict)  # UTF-8 of whole full blocks
    tree: list[str] = field(default_factory=list)


def full_tree(docs: Sequence[Document], skipped: Sequence[Skipped]) -> list[str]:
    """Every document on its own line, and the skipped files per folder: the unbudgeted tree."""
    lines: list[Line] = [(d.path, tree_line(d.path, FULL)) for d in docs]
    return tree([*lines, *skipped_lines(skipped, len, None)])


class Fitter:
    """What fitting needs about the documents, computed once and reused across the rounds."""

    def __init__(
        self,
        docs: list[Document],
        style: PackStyle,
        counter: TokenCounter,
        cache: TokenCache | None,
        outlines: OutlineProvider | None,
        full: Plan,
        *,
        skipped: Sequence[Skipped] = (),
        query: str | None = None,
    ) -> None:
        self.docs, self.style = docs, style
        self.cached = CachedCounter(counter, cache)
        self.counter = self.cached if counts_each_through_cache(counter) else counter
        self.outlines = outlines or default_outlines
        self.full, self.skipped, self.query = full, skipped, query
        self.by_path = {document.path: document for document in docs}
        self.fixed = self.counter.count(style.header_open() + style.header_close())
        paths = [document.path for document in docs]
        every_line = [tree_line(p, f) for f in (FULL, OUTLINE, PATH) for p in paths]
        lines = (
            self.cached.count_many(every_line) if self.counter is self.cached
            else count_fresh(every_line, counter)
        )
        n = len(paths)
        self.line = {
            fidelity: dict(zip(paths, lines[i * n : (i + 1) * n], strict=True))
            for i, fidelity in enumerate((FULL, OUTLINE, PATH))
        }
        self.outline_blocks: dict[str, tuple[RenderedBlock, int] | None] = {}
        self.focus_tries = 0
        self._focused: dict[str, _Focus] = {}

    def fit(
        self, budget: int, rank: Callable[[], Mapping[str, float]],
        held_back: Callable[[], frozenset[str]], assemble: Callable[[Plan], Measured],
    ) -> Measured:
        """The one fitting loop: plan within a target, assemble the pack and count it whole; when
        that is over `budget` (a tokenizer whose counts do not add up across pieces), plan again
        within a target smaller by the overshoot."""
        target = budget
        for _ in range(_REFITS):
            pack = assemble(self._plan(target, rank, held_back))
            if pack.tokens <= budget:
                return pack
            target -= pack.tokens - budget
        raise IngestError(
            f"cannot fit the pack into {budget} tokens with tokenizer {self.counter.name}"
        )

    def _plan(
        self, budget: int, rank: Callable[[], Mapping[str, float]],
        held_back: Callable[[], frozenset[str]],
    ) -> Plan:
        """Each document's fidelity and the tree within `budget`, counted piece by piece: three
        passes (choose, choose again, spend the slack), each paying for the tree as last folded."""
        skips = skipped_lines(self.skipped, self.counter.count,
                              int(budget * TREE_SHARE * SKIPPED_SHARE))
        available = budget - self.fixed - sum(self.counter.count(line) for _, line in skips)
        if available < 0:
            raise UsageError(
                f"budget {budget} is below the pack's fixed overhead of {budget - available} tokens"
            )
        if sum(self.line[FULL][p] + self.full.tokens[p] for p in self.by_path) <= available:
            everything = [(p, tree_line(p, FULL)) for p in self.by_path]
            return replace(self.full, tree=tree([*everything, *skips]))
        scores, last = rank(), held_back()
        ranked = sorted(self.by_path, key=lambda p: (-scores.get(p, 0.0), p))
        candidates = [
            Candidate(p, None if p in last else self.line[FULL][p] + self.full.tokens[p])
            for p in ranked
        ]
        cap = max(0, int(budget * TREE_SHARE) - sum(self.counter.count(ln) for _, ln in skips))
        self.focus_tries = 0
        plan = Plan({p: PATH for p in ranked}, {}, {})
        choose = partial(self._choose, plan, candidates)
        tree_cost = min(cap, sum(self.line[PATH].values()))  # before the first listing
        for spend in (choose, choose, partial(self._spend, plan, ranked, last)):
            spend(available - self._used(plan) - tree_cost)
            listing = self._listing(plan, cap)
            tree_cost = _cost(listing)
        over = self._used(plan) + tree_cost - available
        if over > 0:  # the last cut changed the folding: fold further
            listing = self._listing(plan, tree_cost - over)
        if self._used(plan) + _cost(listing) > available:  # no room for a tree at all
            listing = self._listing(plan, cap, drop_paths=True)
        plan.tree = tree([*[(key, line) for key, line, _ in listing], *skips])
        return plan

    def _spend(self, plan: Plan, ranked: list[str], last: frozenset[str], slack: int) -> None:
        """The slack goes to focused documents' outlines first, then to one more head."""
        slack = self._widen_focus(plan, [p for p in ranked if p in self._focused], slack)
        self._fill_head(plan, [p for p in ranked if p not in last], slack)

    def _choose(self, plan: Plan, candidates: Sequence[Candidate], available: int) -> None:
        """Upgrade path-only documents in rank order within `available` more tokens."""
        choice = fit_to_budget(candidates, available=available, reduced=self._reduced,
                               choice=plan.choice)
        for path, fidelity in choice.items():
            if fidelity == FULL and path not in plan.blocks:
                plan.blocks[path] = self.full.blocks[path]
                plan.tokens[path] = self.full.tokens[path]
            elif fidelity == OUTLINE and path not in plan.blocks:
                outline = self._outline(path)
                assert outline is not None, "outline fidelity is only chosen when an outline exists"
                plan.blocks[path], plan.tokens[path] = outline
            elif fidelity == "focus":
                focus = self._focused[path]
                plan.blocks[path], plan.tokens[path] = focus.block, focus.tokens
                plan.parts[path] = focus.part
                fidelity = FULL
            plan.choice[path] = fidelity

    def _listing(
        self, plan: Plan, cap: int, *, drop_paths: bool = False
    ) -> list[tuple[str, str, int]]:
        """The tree lines of every document not skipped, folded to `cap`; with `drop_paths`,
        path-only files become skipped (over budget) instead of listed."""
        for p, fidelity in plan.choice.items():
            if fidelity in (PATH, SKIPPED):
                plan.choice[p] = SKIPPED if drop_paths else PATH
        entries = [
            (p, tree_line(p, f, _label(plan, p)), self._line_cost(plan, p), f)
            for p, f in plan.choice.items()
            if f != SKIPPED
        ]
        return fold_tree(entries, self.counter.count, cap)

    def _line_cost(self, plan: Plan, path: str) -> int:
        if path in plan.parts:
            return self.counter.count(tree_line(path, FULL, plan.parts[path].label))
        return self.line[plan.choice[path]][path]

    def _used(self, plan: Plan) -> int:
        return sum(plan.tokens.values())

    def _reduced(self, path: str, remaining: int) -> tuple[str, int] | None:
        """The best smaller form of a document that does not fit in full: its relevant regions
        in full with an outline of the rest, else its outline; costs include the tree line."""
        focused = self._focus(path, remaining)
        if focused is not None:
            return "focus", focused
        outline = self._outline(path, remaining)
        if outline is None or self.line[OUTLINE][path] + outline[1] > remaining:
            return None
        return OUTLINE, self.line[OUTLINE][path] + outline[1]

    def _focus(self, path: str, remaining: int) -> int | None:
        """Cost of the document's most relevant regions in full (as many as fit), with as much of
        its outline as fits beside them, nearest definitions first; the block is kept for later."""
        if not self.query or self.focus_tries >= _FOCUS_TRIES:
            return None
        document = self.by_path[path]
        outline = self.outlines(document)
        regions = focus_regions(document, outline, self.query) if outline else []
        if not regions or outline is None:
            return None
        self.focus_tries += 1
        kept: list[tuple[int, int]] = []
        for region in regions:  # the best region if it fits; more while half is left for others
            allowance = remaining // _FOCUS_SHARE if kept else remaining
            if self._focus_cost(path, _merged([*kept, region]), []) <= allowance:
                kept = _merged([*kept, region])
        if not kept:
            return None
        spent = self._focus_cost(path, kept, [])
        nearest = sorted(outline_lines(outline), key=lambda ln: (_distance(ln[0], kept), ln[0]))
        room = spent + min(remaining - spent, max(spent, remaining // _OUTLINE_SHARE))
        self._focused[path] = self._with_outline(path, kept, nearest, room)
        return self._focused[path].cost

    def _with_outline(
        self, path: str, kept: list[tuple[int, int]], nearest: list[tuple[int, str]], room: int
    ) -> _Focus:
        m = fill_head(lambda k: self._focus_cost(path, kept, nearest[:k]), len(nearest),
                      allowance=room)
        cut, part = focus_block(self.full.blocks[path], kept, sorted(nearest[:m]), self.style,
                                complete=m == len(nearest))
        tokens = self._count(cut.text)
        cost = self.counter.count(tree_line(path, FULL, part.label)) + tokens
        return _Focus(cut, part, tokens, cost, kept, nearest)

    def _widen_focus(self, plan: Plan, focused: list[str], slack: int) -> int:
        """Give the slack to the outlines of focused documents (best first) before any head."""
        for path in focused:
            focus = self._focused[path]
            if slack <= 0 or plan.parts.get(path) is not focus.part:
                continue
            wider = self._with_outline(path, focus.kept, focus.nearest, focus.cost + slack)
            if wider.cost > focus.cost:
                slack -= wider.cost - focus.cost
                self._focused[path] = wider
                plan.blocks[path], plan.tokens[path] = wider.block, wider.tokens
                plan.parts[path] = wider.part
        return slack

    def _focus_cost(
        self, path: str, kept: list[tuple[int, int]], outline: Sequence[tuple[int, str]]
    ) -> int:
        cut, part = focus_block(self.full.blocks[path], kept, outline, self.style)
        return self.counter.count(tree_line(path, FULL, part.label)) + self.counter.count(cut.text)

    def _outline(self, path: str, remaining: int | None = None) -> tuple[RenderedBlock, int] | None:
        """The outline block and its cost; None without one, or when it is too long to fit
        `remaining` by far (then it is neither formatted nor counted)."""
        if path not in self.outline_blocks:
            document = self.by_path[path]
            outline = self.outlines(document)
            if outline and remaining is not None and _too_long(outline, remaining):
                return None
            text = format_outline(outline, path=path) if outline and outline.symbols else None
            block = None if not text else render_block(document, OUTLINE, self.style, outline=text)
            self.outline_blocks[path] = None if block is None else (block, self._count(block.text))
        return self.outline_blocks[path]

    def _count(self, text: str) -> int:
        return self.cached.count(text)

    def _fill_head(self, plan: Plan, ranked: list[str], slack: int) -> None:
        """Spend the slack on the head (leading lines or pages) of the best document not in full."""
        tries = [path for path in ranked if plan.choice[path] != FULL][:_HEAD_TRIES]
        for path in tries:
            block = self.full.blocks[path]
            spans = unit_spans(block.text, block.layout)
            current = plan.tokens.get(path, 0) + (
                self.line[OUTLINE][path] if plan.choice[path] == OUTLINE else 0
            )

            def cost_of(
                k: int, block: RenderedBlock = block, spans: list = spans, path: str = path
            ) -> int:
                cut, part = cut_block(block.text, block.layout, spans[:k], self.style)
                return self.counter.count(tree_line(path, FULL, part.label)) + self.counter.count(
                    cut.text
                )

            k = (
                fill_head(cost_of, len(spans) - 1, allowance=current + slack)
                if len(spans) > 1
                else 0
            )
            if k and cost_of(k) > current:
                cut, part = cut_block(block.text, block.layout, spans[:k], self.style)
                plan.choice[path], plan.parts[path] = FULL, part
                plan.blocks[path], plan.tokens[path] = cut, self.counter.count(cut.text)
                return


def _too_long(outline: Outline, remaining: int) -> bool:
    return sum(len(s.signature) for s in outline.symbols) > _CHARS_PER_TOKEN * remaining


def _label(plan: Plan, path: str) -> str | None:
    return plan.parts[path].label if path in plan.parts else None


def _cost(listing: Sequence[tuple[str, str, int]]) -> int:
    return sum(cost for *_, cost in listing)


def _distance(line: int, ranges: Sequence[tuple[int, int]]) -> int:
    return min(0 if low <= line <= high else min(abs(line - low), abs(line - high))
               for low, high in ranges)


def _merged(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged
