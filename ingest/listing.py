"""The file tree of a pack at any size: one line per file, folded into folder lines
(`sympy/polys/ [path: 212 files]`) as far as the tree's share of the budget requires, and one
line per folder counting what was skipped and why. Blocks carry their own ids and the manifest
keeps the full per-file list, so folding loses nothing the model can cite.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath

from longread.ingest.document import Skipped, skip_summary

TREE_SHARE = 0.15  # the most of a budgeted pack the file tree may take
SKIPPED_SHARE = 0.3  # of that, the most the skipped-file lines may take
ROOT = "."

Line = tuple[str, str]  # (sort key, tree line): a folder's key is "folder/", before its files


def fold_tree(
    entries: Sequence[tuple[str, str, int, str]],
    count: Callable[[str], int],
    allowance: int,
) -> list[tuple[str, str, int]]:
    """(key, line, tokens) of the tree within `allowance` tokens, from (path, line, tokens,
    fidelity) entries: each file on its line when they fit, else the deepest, then the largest
    folders folded into one line that counts their files by fidelity; at worst one line."""
    lines = {path: (line, cost) for path, line, cost, _ in entries}
    total = sum(cost for _, cost in lines.values())
    if total <= allowance:
        return _sorted(lines)
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    for path, _, _, fidelity in entries:
        for folder in _folders(path):
            kinds[folder][fidelity] += 1
    keys = sorted(lines)  # what lies under a folder is one run of this list
    for folder in sorted(kinds, key=lambda f: (-f.count("/"), -kinds[f].total(), f)):
        prefix = f"{folder}/"
        start = bisect.bisect_left(keys, prefix)
        end = bisect.bisect_left(keys, prefix + "\U0010ffff", start)
        if end - start < 2:
            continue
        line = folder_line(folder, kinds[folder])
        cost = count(line)
        total += cost - sum(lines.pop(key)[1] for key in keys[start:end])
        keys[start:end] = [prefix]
        lines[prefix] = (line, cost)
        if total <= allowance:
            return _sorted(lines)
    line = folder_line(ROOT, Counter(fidelity for *_, fidelity in entries))
    return [(f"{ROOT}/", line, count(line))]


def skipped_lines(
    skipped: Sequence[Skipped], count: Callable[[str], int], allowance: int | None
) -> list[Line]:
    """One line per folder naming its skipped files by kind, merged into ever shallower folders
    until the lines fit `allowance` (without one, per folder)."""
    depth = max((path.count("/") for path in (s.path for s in skipped)), default=0)
    while True:
        groups: dict[str, list[str]] = defaultdict(list)
        for skip in skipped:
            groups[_ancestor(skip.path, depth)].append(skip.reason)
        lines = [
            (f"{folder}/", f"{folder}/ [{skip_summary(reasons)}]\n")
            for folder, reasons in sorted(groups.items())
        ]
        if allowance is None or depth == 0 or sum(count(line) for _, line in lines) <= allowance:
            return lines
        depth -= 1


def folder_line(folder: str, fidelities: Counter[str]) -> str:
    """`dir/ [path: 212 files]`, or `dir/ [214 files: 2 full, 212 path]` when some are shown."""
    files = fidelities.total()
    noun = "file" if files == 1 else "files"
    if set(fidelities) == {"path"}:
        return f"{folder}/ [path: {files} {noun}]\n"
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(fidelities.items()))
    return f"{folder}/ [{files} {noun}: {kinds}]\n"


def tree(lines: Sequence[Line]) -> list[str]:
    """The tree's lines in path order (a folder's line before the files under it)."""
    return [line for _, line in sorted(lines)]


def _sorted(entries: Mapping[str, tuple[str, int]]) -> list[tuple[str, str, int]]:
    return [(key, line, cost) for key, (line, cost) in sorted(entries.items())]


def _folders(path: str) -> list[str]:
    parts = PurePosixPath(path).parts[:-1]
    return ["/".join(parts[: depth + 1]) for depth in range(len(parts))]


def _ancestor(path: str, depth: int) -> str:
    """The folder of `path` at most `depth` levels deep (ROOT for depth 0 or a top-level file)."""
    parts = PurePosixPath(path).parts[:-1][:depth]
    return "/".join(parts) if parts else ROOT
