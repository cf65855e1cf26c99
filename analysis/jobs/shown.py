"""What the pack showed the model of each document (lines, pages, an outline's signatures), so a
citation of something it never saw is flagged `not-shown` (jobs/citations.py checks against it)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from longread.ingest.lines import split_lines
from longread.ingest.pack import Pack, PackBlock
from longread.ingest.places import SECTION_UNITS
from longread.ingest.render import unit_spans

_OUTLINE_LINE = re.compile(r" *(\d+)│")  # " 12│ def f(": line 12's signature, as outlines show it

Ranges = tuple[tuple[int, int], ...]  # sorted, merged (first, last) runs of line or page numbers


@dataclass(frozen=True)
class Shown:
    """What the pack showed the model of one document: line and page ranges (None: all of them),
    and a label saying how ("full", "lines 1-471", "outline", "path only") for the flag's detail."""

    label: str
    lines: Ranges | None = None
    pages: Ranges | None = None

    def covers(self, first: int, last: int, *, pages: bool = False) -> bool:
        ranges = self.pages if pages else self.lines
        return ranges is None or any(low <= first and last <= high for low, high in ranges)


NOTHING_SHOWN = Shown("not in the pack", (), ())


def shown_in(pack: Pack) -> dict[str, Shown]:
    """Per document path, exactly what the pack's blocks showed; documents the manifest lists
    without a block (path only, skipped) showed nothing."""
    shown = {entry.path: replace(NOTHING_SHOWN, label=_unshown_label(entry.fidelity, entry.reason))
             for entry in pack.manifest.documents}
    blocks: dict[str, list[Shown]] = {}
    for block in pack.blocks:
        blocks.setdefault(block.path, []).append(_shown_block(block))
    return shown | {path: _union(views) for path, views in blocks.items()}


def _unshown_label(fidelity: str, reason: str | None) -> str:
    if fidelity == "path":
        return "path only"
    return f"{fidelity} ({reason})" if reason else fidelity


def _shown_block(block: PackBlock) -> Shown:
    """What one block shows: the ranges of its part (as the manifest states them), or every line
    or page of its body; plus the outline lines (` 12│ def f(`) of an outline or of a part with
    an outline of the rest, which no range names."""
    label = block.part or block.fidelity
    part, layout = block.shown, block.layout
    if layout is None:
        return Shown(label)
    if part is not None and (part.unit == "lines" or part.unit in SECTION_UNITS):
        unit, ranges = part.unit, part.ranges
    elif layout.unit == "lines" or layout.unit in SECTION_UNITS:
        unit, ranges = layout.unit, _merge(n for _, _, n in unit_spans(block.text, layout))
    else:
        unit, ranges = "lines", ()
    if unit in SECTION_UNITS:
        return Shown(label, None, ranges)
    signatures: list[int] = []
    if block.fidelity == "outline" or (part is not None and part.rest):
        body = block.text[layout.body_start : layout.body_end]
        found = (_OUTLINE_LINE.match(line) for line in split_lines(body))
        signatures = [int(match[1]) for match in found if match]
    return Shown(label, _merge([*_numbers(ranges), *signatures]), ())


def _numbers(ranges: Ranges | None) -> list[int]:
    return [n for low, high in ranges or () for n in range(low, high + 1)]


def _merge(numbers: Iterable[int]) -> Ranges:
    runs: list[list[int]] = []
    for number in sorted(set(numbers)):
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return tuple((low, high) for low, high in runs)


def _union(views: Sequence[Shown]) -> Shown:
    """One view of a document shown in several blocks (parts, or regions next to an outline)."""
    if len(views) == 1:
        return views[0]

    def join(ranges: Sequence[Ranges | None]) -> Ranges | None:
        if any(r is None for r in ranges):
            return None
        return _merge(n for r in ranges for n in _numbers(r))

    label = ", ".join(view.label for view in views)
    return Shown(label, join([v.lines for v in views]), join([v.pages for v in views]))
