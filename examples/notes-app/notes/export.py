"""Writes notes as a Markdown document, one section per tag."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

from notes.store import Note


def group_by_tag(notes: list[Note]) -> dict[str, list[Note]]:
    groups: dict[str, list[Note]] = defaultdict(list)
    for note in notes:
        for tag in note.tags or ("untagged",):
            groups[tag].append(note)
    return dict(sorted(groups.items()))


def to_markdown(notes: list[Note]) -> str:
    lines = ["# Notes", ""]
    for tag, tagged in group_by_tag(notes).items():
        lines += [f"## {tag}", ""]
        for note in tagged:
            day = time.strftime("%Y-%m-%d", time.localtime(note.created))
            lines.append(f"- {note.body} ({day})")
        lines.append("")
    return "\n".join(lines)


def export(notes: list[Note], path: Path) -> int:
    path.write_text(to_markdown(notes), encoding="utf-8")
    return len(notes)
