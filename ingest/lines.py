"""The one line splitter: lines as git, grep and editors count them.

`str.splitlines` also breaks at form feed, vertical tab, \\x1c-\\x1e, \\x85, U+2028 and U+2029,
so after one of those every `path:N` drifts from what `sed -n Np` shows. Every module that
numbers, cites or parses lines goes through here: a line ends at "\\n" only, and "\\r\\n" is
one break.
"""

from __future__ import annotations

__all__ = ["MAX_DIGITS", "line_count", "line_number", "split_lines"]

MAX_DIGITS = 9  # a line or page number past 999,999,999 is in no document


def split_lines(text: str, *, keepends: bool = False) -> list[str]:
    """`text` cut at "\\n"; a final "\\n" ends the last line rather than opening an empty one.

    Without `keepends` a "\\r" before the "\\n" goes too, so "\\r\\n" files read like "\\n" files.
    With it, each line keeps its own ending byte for byte, and "".join() gives `text` back.
    """
    if not text:
        return []
    if keepends:
        pieces = text.split("\n")
        lines = [piece + "\n" for piece in pieces[:-1]]
        if pieces[-1]:
            lines.append(pieces[-1])
        return lines
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def line_number(digits: str) -> int | None:
    """`digits` as a line or page number, or None: 0-9 only (int() also reads "١٢" as 12, and
    regex \\d matches it) and at most MAX_DIGITS of them (int() refuses 5,000 digits)."""
    if not digits.isascii() or not digits.isdigit() or len(digits) > MAX_DIGITS:
        return None
    return int(digits)


def line_count(text: str) -> int:
    """How many lines `split_lines` finds, without building them."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)
