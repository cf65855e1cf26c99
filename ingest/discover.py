"""Which files make up the corpus: git's own view in a work tree, a gitignore-aware walk elsewhere.

Every file left out for a reason the user may not expect (too large, a symlink leaving the root, a
FIFO, an unreadable folder, --exclude) is named as a `Skipped`; files an ignore file or the
plain-folder defaults leave out (see ingest/ignore.py) are simply not in the corpus.
Ids are paths relative to the common folder of all the given paths, with control characters
escaped so an id is always one line; a file reached through two given paths is listed once.
Only `lstat`/`stat` run per file, never a subprocess, so a 100k-file tree stays fast.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

from longread.ingest.corpus_spec import CorpusSpec
from longread.ingest.document import Skipped, skip_summary
from longread.ingest.errors import IngestError
from longread.ingest.ignore import (
    Specs,
    compile_spec,
    default_ignored,
    drop_longreadignored,
    ignored,
    with_ignore_files,
)
from longread.ingest.secret_files import is_secret_file

# How `git ls-files --others` names an untracked folder it cannot list (it still exits 0).
_GIT_UNREADABLE = re.compile(r"^warning: could not open directory '(.*)/': (.*)$", re.MULTILINE)
# Characters that would break an id out of its line: C0, DEL, C1 and the Unicode line separators.
_ESCAPED = {code: f"\\x{code:02x}" for code in (*range(32), *range(127, 160))} | {
    ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t",
    0x2028: "\\u2028", 0x2029: "\\u2029",
}


@dataclass(frozen=True)
class SourceFile:
    """One file to read: `path` is absolute, `relpath` its citable id (posix, unique per corpus)."""

    abspath: str  # kept as str: building 100k Path objects costs more than the stats
    relpath: str
    size: int
    mtime_ns: int
    inode: int
    link_target: str | None = None  # for a symlink: the real path of the file it points at

    @property
    def path(self) -> Path:
        return Path(self.abspath)


@dataclass(frozen=True)
class Discovery:
    files: tuple[SourceFile, ...]
    skipped: tuple[Skipped, ...]


@dataclass(frozen=True)
class _Filters:
    include: pathspec.GitIgnoreSpec | None
    exclude: pathspec.GitIgnoreSpec | None
    max_file_bytes: int


def discover(corpus: CorpusSpec) -> Discovery:
    """The files under the corpus's roots (folders or single files), sorted by relpath, and the
    named skips.

    Raises IngestError when a root does not exist or nothing is left to read."""
    roots, include = corpus.roots, corpus.include
    filters = _Filters(compile_spec(include), compile_spec(corpus.exclude), corpus.max_file_bytes)
    files: dict[str, SourceFile] = {}
    skipped: dict[str, Skipped] = {}
    for root, prefix in _prefixed(roots):
        for item in _classify_root(root, prefix):
            item = _filter(item, filters)
            if isinstance(item, SourceFile):
                files.setdefault(item.relpath, item)
            elif item is not None:
                skipped.setdefault(item.path, item)
    _drop_unsafe_links(files, skipped)
    if not files:
        raise IngestError(no_files_message(roots, [s.reason for s in skipped.values()], include))
    return Discovery(
        files=tuple(files[key] for key in sorted(files)),
        skipped=tuple(skipped[key] for key in sorted(skipped) if key not in files),
    )


def _drop_unsafe_links(files: dict[str, SourceFile], skipped: dict[str, Skipped]) -> None:
    """A symlink is followed only to a file that is packed under its own path too and is not a
    secrets file: else a link would carry an ignored file, or `notes.txt -> .env`, into the pack."""
    links = [item for item in files.values() if item.link_target is not None]
    if not links:
        return
    # a file that is no link keeps its name under realpath: resolve only those named like a target
    names = {os.path.basename(link.link_target or "") for link in links}
    packed = {os.path.realpath(f.abspath): f.relpath for f in files.values()
              if not f.link_target and os.path.basename(f.abspath) in names}
    for link in links:
        target = packed.get(link.link_target or "")
        if target is None:
            reason = "symlink to a file that is not packed itself (ignored or skipped)"
        elif is_secret_file(target):
            reason = f"symlink to a secrets file ({target})"
        else:
            continue
        del files[link.relpath]
        skipped.setdefault(link.relpath, Skipped(link.relpath, reason))


def no_files_message(
    roots: Sequence[Path], reasons: Sequence[str], include: Sequence[str] = ()
) -> str:
    """The one line for an empty corpus: where, and what left every file out."""
    message = "no files to pack in " + ", ".join(str(root) for root in roots)
    if include:
        message += " matching the include patterns " + " ".join(repr(p) for p in include)
    return message + (f" ({skip_summary(reasons)})" if reasons else "")


def _prefixed(roots: Sequence[Path]) -> list[tuple[Path, str]]:
    """Each distinct root with its id prefix: its path relative to the common folder of all."""
    for root in roots:
        if not os.path.lexists(root):
            raise IngestError(f"no such file or directory: {root}")
    absolute = list(dict.fromkeys(Path(os.path.abspath(root)) for root in roots))
    base = Path(os.path.commonpath(absolute))
    if not base.is_dir():
        base = base.parent  # one file given (perhaps twice): its id is its name
    return [(root, _id_prefix(root, base)) for root in absolute]


def _id_prefix(root: Path, base: Path) -> str:
    """"" for the common folder itself, else "sub/dir/" (a file root: its whole id)."""
    if root == base:
        return ""
    relative = Path(os.path.relpath(root, base)).as_posix()
    return relative + "/" if root.is_dir() else relative


def _classify_root(root: Path, prefix: str) -> Iterator[SourceFile | Skipped]:
    if not root.is_dir():
        yield _classify(str(root), prefix, root.parent)
        return
    listing = _git_relpaths(root)
    if listing is not None:
        relpaths, unreadable = drop_longreadignored(root, listing[0]), listing[1]
    else:
        relpaths, unreadable = _walk(root)
    for rel, reason in unreadable:
        yield Skipped(_printable((prefix + rel).rstrip("/") or root.name), reason)
    for rel in relpaths:
        if rel.endswith("/"):
            yield Skipped(_printable(prefix + rel.rstrip("/")), "nested git repository (not read)")
            continue
        item = _classify(os.path.join(root, rel), prefix + rel, root)
        if item is not None:
            yield item


def _printable(relpath: str) -> str:
    """The id of a path: control characters escaped, so a tree line is never split."""
    return relpath.translate(_ESCAPED)


def _classify(path: str, relpath: str, root: Path) -> SourceFile | Skipped | None:
    """What one listed path is: a file to read, a named skip, or nothing (deleted since listing)."""
    relpath = _printable(relpath)
    try:
        relpath.encode("utf-8")
    except UnicodeEncodeError:
        return Skipped(relpath.encode("utf-8", "replace").decode(), "file name is not valid UTF-8")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return Skipped(relpath, f"unreadable ({exc.strerror or exc})")
    if stat.S_ISLNK(info.st_mode):
        return _classify_symlink(path, relpath, root)
    return _regular(path, relpath, info)


def _classify_symlink(path: str, relpath: str, root: Path) -> SourceFile | Skipped:
    try:
        target = os.path.realpath(path, strict=True)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return Skipped(relpath, "symlink loop")
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return Skipped(relpath, "broken symlink")
        return Skipped(relpath, f"unreadable symlink target ({exc.strerror or exc})")
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, target]) != real_root:
        return Skipped(relpath, "symlink to outside the root (not followed)")
    try:
        info = os.stat(target)
    except OSError as exc:
        return Skipped(relpath, f"unreadable symlink target ({exc.strerror or exc})")
    if stat.S_ISDIR(info.st_mode):
        return Skipped(relpath, "symlink to a folder (not followed)")
    return _regular(path, relpath, info, link_target=target)


def _regular(
    path: str, relpath: str, info: os.stat_result, *, link_target: str | None = None
) -> SourceFile | Skipped:
    if not stat.S_ISREG(info.st_mode):
        return Skipped(relpath, f"not a regular file ({_file_type(info.st_mode)})")
    return SourceFile(path, relpath, info.st_size, info.st_mtime_ns, info.st_ino, link_target)


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISDIR, "folder")):
        if test(mode):
            return name
    return "special file"


def _filter(item: SourceFile | Skipped, filters: _Filters) -> SourceFile | Skipped | None:
    """Apply --include (silently narrows), --exclude and the size cap (both named)."""
    if isinstance(item, Skipped):
        return item
    if filters.include is not None and not filters.include.match_file(item.relpath):
        return None
    if filters.exclude is not None and filters.exclude.match_file(item.relpath):
        return Skipped(item.relpath, "excluded by --exclude")
    if item.size > filters.max_file_bytes:
        return Skipped(
            item.relpath, f"too large ({item.size:,} bytes > {filters.max_file_bytes:,} byte cap)"
        )
    return item


def _git_relpaths(root: Path) -> tuple[list[str], list[tuple[str, str]]] | None:
    """Paths (relative to `root`) git tracks or would track, and the folders git could not open
    (as `_walk` gives them); None when git has no say here."""
    if (_git(root, "rev-parse", "--is-inside-work-tree") or "").strip() != "true":
        return None
    if _git_ignores_root(root):
        return None
    listing = _git_run(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                       "--deduplicate")
    if listing is None:
        return None
    unreadable = [(folder + "/", f"unreadable folder ({why})")
                  for folder, why in _GIT_UNREADABLE.findall(listing[1])]
    return [entry for entry in listing[0].split("\0") if entry], unreadable


def _git_ignores_root(root: Path) -> bool:
    """A root git itself ignores (a build or download folder inside a repo) is walked instead."""
    top = (_git(root, "rev-parse", "--show-toplevel") or "").strip()
    if not top or Path(top) == Path(os.path.realpath(root)):
        return False
    relative = os.path.relpath(os.path.realpath(root), top)
    return _git(Path(top), "check-ignore", "-q", "--", relative + "/") is not None


def _git(cwd: Path, *args: str) -> str | None:
    """Run git in `cwd`; its stdout, or None when git is missing or fails."""
    done = _git_run(cwd, *args)
    return None if done is None else done[0]


def _git_run(cwd: Path, *args: str) -> tuple[str, str] | None:
    """Run git in `cwd`; its stdout and stderr, or None when git is missing or fails."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False,
                              env={**os.environ, "LC_ALL": "C"})  # warnings in English
    except OSError:
        return None
    if done.returncode != 0:
        return None
    return os.fsdecode(done.stdout), os.fsdecode(done.stderr)


def _walk(root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Relpaths under `root` that no ignore file or default leaves out, and the folders that
    could not be listed (relpath with a trailing "/", reason)."""
    found: list[str] = []
    unreadable: list[tuple[str, str]] = []
    stack: list[tuple[Path, str, Specs]] = [(root, "", ())]
    while stack:
        folder, prefix, specs = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            unreadable.append((prefix, f"unreadable folder ({exc.strerror or exc})"))
            continue
        names = {entry.name for entry in entries}
        specs = with_ignore_files(specs, folder, prefix, names)
        for entry in entries:
            rel = prefix + entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            default = default_ignored(str(folder), entry.name, is_dir, names)
            if ignored(specs, rel, is_dir, default=default):
                continue
            if is_dir:
                stack.append((Path(entry.path), rel + "/", specs))
            else:
                found.append(rel)
    return found, unreadable
