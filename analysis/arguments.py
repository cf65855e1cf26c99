"""What a caller hands the Python API, checked at the door: a wrong type, or text UTF-8 cannot
encode (a lone surrogate such as "\\ud800"), is a UsageError naming the argument, not a TypeError
or a UnicodeEncodeError from deep inside a job (the API promises the one LongreadError tree).

The web API and MCP reach the same jobs through `api`, so their callers get the same words.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

from longread.ingest.errors import UsageError


def unicode_text(value: str, name: str) -> str:
    """`value` if UTF-8 can encode it; a lone surrogate cannot, and would fail at the first hash,
    cache write or request that encodes it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        found = value[exc.start].encode("unicode_escape").decode("ascii")
        raise UsageError(f"{name} holds a lone surrogate ({found}): not Unicode text") from None
    return value


def text(value: Any, name: str) -> str:
    """A str of Unicode text."""
    if not isinstance(value, str):
        raise UsageError(f"{name} must be a string, not {_kind(value)}")
    return unicode_text(value, name)


def optional_text(value: Any, name: str) -> str | None:
    return None if value is None else text(value, name)


def texts(value: Any, name: str) -> list[str]:
    """One string, or a list (any sequence) of strings."""
    if isinstance(value, str):
        return [text(value, name)]
    if isinstance(value, bytes | bytearray) or not isinstance(value, Sequence):
        raise UsageError(f"{name} must be a string or a list of strings, not {_kind(value)}")
    return [text(item, f"{name}[{n}]") for n, item in enumerate(value)]


def optional_int(value: Any, name: str) -> int | None:
    """A whole number or None; not "10" (a str), not True (a bool is an int to Python)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name} must be a whole number or None, not {_kind(value)}")
    return value


def roots(value: Any, name: str = "paths") -> list[str | Path]:
    """The corpus: one path (str or os.PathLike) or a list of them; a str stays as given (it may
    be a git URL, which Path() would fold)."""
    if isinstance(value, str | os.PathLike):
        value = [value]
    if isinstance(value, bytes | bytearray) or not isinstance(value, Sequence) or not value:
        raise UsageError(f"{name} must be a path or a non-empty list of paths, not "
                         f"{_kind(value)}")
    for n, item in enumerate(value):
        if not isinstance(item, str | os.PathLike):
            raise UsageError(f"{name}[{n}] must be a path, not {_kind(item)}")
    return [item if isinstance(item, str) else Path(item) for item in value]


def document_id(value: Any, name: str = "path") -> str:
    """A corpus document as cited (`app/store.py`): a str, or a relative Path written with '/'."""
    if isinstance(value, PurePath):
        return value.as_posix()
    if not isinstance(value, str):
        raise UsageError(f"{name} must be a path inside the corpus as cited (a string), not "
                         f"{_kind(value)}")
    return value


def _kind(value: Any) -> str:
    """How a wrong value is named in a message: its type, and the value when it is short."""
    if value is None:
        return "None"
    shown = repr(value)
    return f"{type(value).__name__} {shown}" if len(shown) <= 40 else type(value).__name__
