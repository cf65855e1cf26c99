"""Corpus PATH arguments resolved in one place: a git URL (`URL[@ref]`) becomes its checkout in
the cache, every other path stays as given. Every job (pack, ask, summarize, serve, mcp, and the
Python API) reaches its roots through `resolve_paths`, and the token is read here, at the boundary.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from longread.analysis.config import Settings
from longread.ingest.errors import UsageError
from longread.ingest.remote import fetch_remote, parse_remote, source_of

TOKEN_ENV = "LONGREAD_GIT_TOKEN"


def resolve_paths(paths: Sequence[str | Path], settings: Settings, *,
                  environ: Mapping[str, str] | None = None) -> list[Path]:
    """Local folders for `paths`: each git URL fetched (or found) in `settings.cache_dir`.

    A `Path` is always local; only a string can name a URL (Path('https://h/r') loses a slash).
    A URL comes alone: ids are relative to the repository, and beside another root they would
    be relative to a folder holding both (the cache's own path)."""
    environ = os.environ if environ is None else environ
    remotes = [parse_remote(path) if isinstance(path, str) else None for path in paths]
    if len(paths) > 1 and any(remotes):
        raise UsageError("a git URL is read on its own: give it as the only PATH")
    return [
        Path(path) if remote is None else fetch_remote(
            remote, settings.cache_dir, environ=environ, token=environ.get(TOKEN_ENV) or None)
        for path, remote in zip(paths, remotes, strict=True)
    ]


def remote_roots(roots: Sequence[Path], settings: Settings) -> list[Path]:
    """The roots that are checkouts of git URLs (whose config file is not trusted by default)."""
    return [root for root in roots if source_of(root, settings.cache_dir) is not None]


def shown(root: Path, settings: Settings) -> str:
    """How to name a root to the user: a checkout by its URL and commit, else its path."""
    source = source_of(root, settings.cache_dir)
    return str(root) if source is None else f"{source.url}@{source.commit[:12]}"
