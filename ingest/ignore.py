"""Which paths a corpus leaves out: .gitignore chains, `.longreadignore`, and plain-folder defaults.

Outside git, the folders every project generates are left out by default (the entries of GitHub's
Python, Node, Rust and global gitignore templates that hold no source): version control, virtual
environments, dependency, cache and build folders. A `.gitignore` or `.longreadignore` line such as
`!build/` brings one back. Folders are recognised by content too: any folder holding `pyvenv.cfg`
or `conda-meta/` is an environment, and `target/` beside a `Cargo.toml` is Rust's build output.
`.longreadignore` (gitignore syntax, nested like .gitignore) works in git work trees and plain
folders alike, and wins over .gitignore in the same folder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pathspec

from longread.ingest.lines import split_lines

LONGREADIGNORE = ".longreadignore"
DEFAULT_IGNORED_FOLDERS = frozenset({
    ".git", ".hg", ".svn", ".bzr",
    ".venv", "venv", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox",
    ".hypothesis", ".eggs", ".ipynb_checkpoints", "htmlcov",
    "node_modules", "bower_components", ".next", ".nuxt", ".parcel-cache",
    "build", "dist", ".gradle", ".terraform", ".direnv", ".idea",
})
# A `.git` file is a worktree's or submodule's pointer to its repository.
DEFAULT_IGNORED_FILES = frozenset({".git", ".coverage", ".DS_Store", "Thumbs.db"})
_IGNORED_FOLDER_SUFFIXES = (".egg-info",)
_IGNORED_FILE_SUFFIXES = (".pyc", ".pyo")
_ENVIRONMENT_MARKERS = ("pyvenv.cfg", "conda-meta")

# The ignore specs in force in a folder, outermost first, each with its folder's relpath prefix.
Specs = tuple[tuple[str, pathspec.GitIgnoreSpec], ...]


def compile_spec(lines: Sequence[str]) -> pathspec.GitIgnoreSpec | None:
    """A gitignore-style spec; a line that does not compile is dropped, never fatal."""
    if not lines:
        return None
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except Exception:  # pathspec raises its own errors and re.error for bad character ranges
        return pathspec.GitIgnoreSpec.from_lines([line for line in lines if _compiles(line)])


def _compiles(line: str) -> bool:
    try:
        pathspec.GitIgnoreSpec.from_lines([line])
    except Exception:
        return False
    return True


def default_ignored(folder: str, name: str, is_dir: bool, sibling_names: set[str]) -> bool:
    """Left out of a plain folder unless an ignore file negates it: see the module docstring."""
    if not is_dir:
        return name in DEFAULT_IGNORED_FILES or name.endswith(_IGNORED_FILE_SUFFIXES)
    if name in DEFAULT_IGNORED_FOLDERS or name.endswith(_IGNORED_FOLDER_SUFFIXES):
        return True
    if name == "target" and "Cargo.toml" in sibling_names:
        return True
    path = os.path.join(folder, name)
    return any(os.path.exists(os.path.join(path, marker)) for marker in _ENVIRONMENT_MARKERS)


def with_ignore_files(specs: Specs, folder: Path, prefix: str, names: set[str]) -> Specs:
    """`specs` plus the folder's .gitignore, then its .longreadignore (the later one wins)."""
    for name in (".gitignore", LONGREADIGNORE):
        if name in names:
            specs = with_ignore_file(specs, folder / name, prefix)
    return specs


def with_ignore_file(specs: Specs, path: Path, prefix: str) -> Specs:
    try:
        lines = split_lines(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return specs
    spec = compile_spec(lines)
    return specs if spec is None else (*specs, (prefix, spec))


def ignored(specs: Specs, rel: str, is_dir: bool, *, default: bool = False) -> bool:
    """Git's rule: the deepest ignore file with a matching line decides, its last match wins;
    with no match, `default` stands."""
    verdict = default
    for prefix, spec in specs:
        if not rel.startswith(prefix):
            continue
        result = spec.check_file(rel[len(prefix):] + ("/" if is_dir else "")).include
        if result is not None:
            verdict = result
    return verdict


def drop_longreadignored(root: Path, relpaths: Sequence[str]) -> list[str]:
    """Git's listing less what the .longreadignore files in it leave out (git mode)."""
    specs: Specs = ()
    found = [rel for rel in relpaths if rel.rpartition("/")[2] == LONGREADIGNORE]
    for rel in sorted(found, key=lambda rel: rel.count("/")):
        specs = with_ignore_file(specs, root / rel, rel[: -len(LONGREADIGNORE)])
    if not specs:
        return list(relpaths)
    folders: dict[str, bool] = {"": False}

    def folder_ignored(folder: str) -> bool:
        """A folder is out when it or a folder above it is ignored (memoised: few folders)."""
        if folder not in folders:
            parent = folder.rpartition("/")[0]
            folders[folder] = folder_ignored(parent) or ignored(specs, folder, True)
        return folders[folder]

    return [rel for rel in relpaths
            if not folder_ignored(rel.rpartition("/")[0]) and not ignored(specs, rel, False)]
