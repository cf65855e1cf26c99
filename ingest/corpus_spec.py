"""Which files a job reads, declared once: the roots, the --include/--exclude globs, the size cap.

One frozen value travels from the CLI or the API to discovery, in place of the roots, include
and exclude (and the cap) threaded through every layer's signature one by one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_FILE_BYTES = 10 * 2**20


@dataclass(frozen=True)
class CorpusSpec:
    """The corpus's local roots (a git URL already fetched), the globs that narrow it (include)
    and leave files out (exclude), and the largest file it reads."""

    roots: tuple[Path, ...]
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    @classmethod
    def of(cls, roots: Iterable[Path], include: Iterable[str] = (),
           exclude: Iterable[str] = (), max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
           ) -> CorpusSpec:
        """From any iterables (a list of roots, a click tuple of globs)."""
        return cls(tuple(roots), tuple(include), tuple(exclude), max_file_bytes)
