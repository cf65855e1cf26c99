"""Unified diffs (git's and plain `diff -u`) parsed into files, hunks and changed new-side lines.

Review findings are kept only near changed lines, so the parser must know exactly which new-side
lines a diff adds. It never raises: on odd input it returns what it could read plus the errors.
Lines end at "\n" only (git's count): a form feed or U+2028 inside an added line is content.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from longread.ingest.lines import split_lines

FileStatus = Literal["added", "deleted", "modified", "renamed", "copied"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")
_GIT_HEADER = re.compile(r'^diff --git ("(?:[^"\\]|\\.)*"|\S+) ("(?:[^"\\]|\\.)*"|\S+)$')
_BINARY = re.compile(r"^Binary files (.+) and (.+) differ$")
_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}
_DEV_NULL = "/dev/null"


@dataclass(frozen=True)
class Hunk:
    """One `@@` block: its ranges, the new-side lines it adds, and where it deletes old lines.

    A deletion has no new-side line; it is placed at the new-side line that follows it.
    """

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    added: tuple[int, ...] = ()
    deleted: tuple[int, ...] = ()
    section: str = ""


@dataclass(frozen=True)
class FileDiff:
    """One file of a diff; `old_path` is None for a new file, `new_path` None for a deleted one."""

    old_path: str | None
    new_path: str | None
    status: FileStatus = "modified"
    binary: bool = False
    hunks: tuple[Hunk, ...] = ()
    first_line: int = 0  # where its header starts: an index into split_lines(diff text)

    @property
    def path(self) -> str:
        """The path a reviewer cites: the new side, or the old one for a deleted file."""
        return self.new_path or self.old_path or ""

    @property
    def added_lines(self) -> frozenset[int]:
        return frozenset(line for hunk in self.hunks for line in hunk.added)

    @property
    def changed_positions(self) -> frozenset[int]:
        """New-side lines that were added, or next to which old lines were deleted."""
        deleted = (line for hunk in self.hunks for line in hunk.deleted)
        return self.added_lines | frozenset(deleted)


@dataclass(frozen=True)
class Diff:
    files: tuple[FileDiff, ...] = ()
    errors: tuple[str, ...] = ()

    def file(self, path: str) -> FileDiff | None:
        return next((item for item in self.files if item.path == path), None)


@dataclass
class _FileBuilder:
    """Mutable state for the file being read; frozen into a FileDiff when the next one starts."""

    old_path: str | None = None
    new_path: str | None = None
    status: FileStatus = "modified"
    binary: bool = False
    git: bool = False
    first_line: int = 0
    hunks: list[Hunk] = field(default_factory=list)

    def build(self) -> FileDiff:
        status = self.status
        if self.old_path is None and self.new_path is not None:
            status = "added"
        elif self.new_path is None and self.old_path is not None:
            status = "deleted"
        return FileDiff(
            self.old_path, self.new_path, status, self.binary, tuple(self.hunks), self.first_line
        )


def parse_diff(text: str) -> Diff:
    """Parse a unified diff; lines it cannot place are reported in `errors`, never raised."""
    parser = _Parser(split_lines(text))
    parser.run()
    return Diff(tuple(parser.files), tuple(parser.errors))


def file_texts(text: str, diff: Diff) -> list[tuple[FileDiff | None, str]]:
    """`text` cut into each file's part (headers and hunks), after what precedes the first file
    (None); joined again they give `text` back byte for byte."""
    lines = split_lines(text, keepends=True)
    starts = [item.first_line for item in diff.files]
    ends = [*starts, len(lines)]
    parts: list[tuple[FileDiff | None, str]] = [(None, "".join(lines[: ends[0]]))]
    for index, item in enumerate(diff.files):
        parts.append((item, "".join(lines[ends[index] : ends[index + 1]])))
    return parts


class _Parser:
    """A line-at-a-time state machine over the diff's lines."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.index = 0
        self.current: _FileBuilder | None = None
        self.files: list[FileDiff] = []
        self.errors: list[str] = []

    def run(self) -> None:
        while self.index < len(self.lines):
            line = self.lines[self.index]
            self.index += 1
            self._dispatch(line)
        self._finish()

    def _dispatch(self, line: str) -> None:
        if line.startswith("diff --git "):
            self._start(_FileBuilder(git=True, first_line=self.index - 1))
            self._git_header(line)
        elif line.startswith("--- ") and self._peek().startswith("+++ "):
            self._file_header(line[4:], self._next()[4:])
        elif line.startswith("@@ "):
            self._hunk(line)
        elif self.current is not None:
            self._extended_header(line)

    def _peek(self) -> str:
        return self.lines[self.index] if self.index < len(self.lines) else ""

    def _next(self) -> str:
        self.index += 1
        return self.lines[self.index - 1]

    def _start(self, builder: _FileBuilder) -> None:
        self._finish()
        self.current = builder

    def _finish(self) -> None:
        if self.current is not None and (self.current.old_path or self.current.new_path):
            self.files.append(self.current.build())
        self.current = None

    def _git_header(self, line: str) -> None:
        """Paths from `diff --git a/X b/Y`; later `rename`/`---`/`+++` lines override them."""
        assert self.current is not None
        match = _GIT_HEADER.match(line)
        old, new = match.groups() if match else _split_spaced(line[len("diff --git ") :])
        if not old or not new:
            self.errors.append(f"line {self.index}: cannot read paths of {line[:80]!r}")
            return
        self.current.old_path = _strip_prefix(_unquote(old), "a/")
        self.current.new_path = _strip_prefix(_unquote(new), "b/")

    def _file_header(self, old: str, new: str) -> None:
        current = self.current
        if current is None or current.hunks or not current.git:
            current = _FileBuilder(first_line=self.index - 2)  # the ---/+++ pair is read
            self._start(current)
        old_path, new_path = _header_path(old), _header_path(new)
        prefixed = (old_path or "a/").startswith("a/") and (new_path or "b/").startswith("b/")
        git_style = current.git or prefixed
        if git_style:
            old_path = _strip_prefix(old_path, "a/") if old_path else None
            new_path = _strip_prefix(new_path, "b/") if new_path else None
        current.old_path, current.new_path = old_path, new_path

    def _extended_header(self, line: str) -> None:
        current = self.current
        assert current is not None
        if line.startswith(("rename from ", "copy from ")):
            current.old_path = _unquote(line.split(" ", 2)[2])
            current.status = "renamed" if line.startswith("rename") else "copied"
        elif line.startswith(("rename to ", "copy to ")):
            current.new_path = _unquote(line.split(" ", 2)[2])
        elif line.startswith("new file mode"):
            current.old_path = None
        elif line.startswith("deleted file mode"):
            current.new_path = None
        elif line == "GIT binary patch" or _BINARY.match(line):
            current.binary = True

    def _hunk(self, line: str) -> None:
        match = _HUNK.match(line)
        if match is None or self.current is None:
            self.errors.append(f"line {self.index}: unexpected hunk header {line[:80]!r}")
            return
        old_start, old_count, new_start, new_count = (
            int(group) if group is not None else 1 for group in match.groups()[:4]
        )
        added, deleted = self._hunk_body(old_count, new_start, new_count)
        hunk = Hunk(old_start, old_count, new_start, new_count, added, deleted, match.group(5))
        self.current.hunks.append(hunk)

    def _hunk_body(
        self, old_left: int, new_line: int, new_left: int
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        added: list[int] = []
        deleted: list[int] = []
        for kind in self._body_kinds(old_left, new_left):
            if kind == "+":
                added.append(new_line)
                new_line += 1
            elif kind == "-":
                deleted.append(new_line)
            else:
                new_line += 1
        return tuple(added), tuple(sorted(set(deleted)))

    def _body_kinds(self, old_left: int, new_left: int) -> Iterator[str]:
        """Yield '+', '-' or ' ' for each body line until the header's counts are used up."""
        while old_left > 0 or new_left > 0:
            if self.index >= len(self.lines):
                self.errors.append(f"line {self.index}: hunk ends early (diff truncated)")
                return
            line = self.lines[self.index]
            kind = line[:1] or " "
            if kind == "\\":
                self.index += 1
                continue
            if not _fits(kind, old_left, new_left):
                self.errors.append(f"line {self.index + 1}: hunk shorter than its header says")
                return
            self.index += 1
            old_left -= kind in "- "
            new_left -= kind in "+ "
            yield kind
        if self._peek().startswith("\\"):
            self.index += 1


def _split_spaced(rest: str) -> tuple[str, str]:
    """`a/x y b/x y`: paths with spaces, unquoted; the same name on both sides splits evenly."""
    half = (len(rest) - 1) // 2
    if rest[half : half + 1] == " " and rest[:half][2:] == rest[half + 1 :][2:]:
        return rest[:half], rest[half + 1 :]
    old, sep, new = rest.partition(" b/")
    return (old, "b/" + new) if sep else ("", "")


def _fits(kind: str, old_left: int, new_left: int) -> bool:
    """Whether a body line of this kind still fits the counts left in the hunk header."""
    return (
        (kind == " " and old_left > 0 and new_left > 0)
        or (kind == "+" and new_left > 0)
        or (kind == "-" and old_left > 0)
    )


def _header_path(raw: str) -> str | None:
    """A `---`/`+++` path without the timestamp `diff -u` appends after a tab."""
    path = raw.split("\t", 1)[0].rstrip() if not raw.startswith('"') else _unquote(raw.rstrip())
    return None if path == _DEV_NULL else path


def _strip_prefix(path: str, prefix: str) -> str:
    return path[len(prefix) :] if path.startswith(prefix) else path


def _unquote(raw: str) -> str:
    """Undo git's C-style quoting of paths with special or non-ASCII bytes."""
    if len(raw) < 2 or not (raw.startswith('"') and raw.endswith('"')):
        return raw
    body, out, index = raw[1:-1], bytearray(), 0
    while index < len(body):
        char = body[index]
        if char != "\\" or index + 1 >= len(body):
            out += char.encode("utf-8", "surrogateescape")
            index += 1
        elif _is_octal(body[index + 1 : index + 4]):
            out.append(int(body[index + 1 : index + 4], 8) & 0xFF)
            index += 4
        else:
            out.append(_ESCAPES.get(body[index + 1], ord(body[index + 1]) & 0xFF))
            index += 2
    return out.decode("utf-8", "replace")


def _is_octal(digits: str) -> bool:
    return len(digits) == 3 and all(char in "01234567" for char in digits)
