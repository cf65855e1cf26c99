"""Which files make up the corpus: git's own view in a work tree, a gitignore-aware walk elsewhere.

Every file left out for a reason the user may not expect (too large, a symlink leaving the root, a
FIFO, --exclude) is named as a `Skipped`; files a .gitignore ignores are simply not in the corpus.
Only `lstat`/`stat` run per file, never a subprocess, so a 100k-file tree stays fast.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

from longread.ingest.document import Skipped
from longread.ingest.errors import UsageError

DEFAULT_MAX_FILE_BYTES = 10 * 2**20

# The .gitignore specs in force in a folder, outermost first, each with the folder's relpath prefix.
_Specs = tuple[tuple[str, pathspec.GitIgnoreSpec], ...]


@dataclass(frozen=True)
class SourceFile:
    """One file to read: `path` is absolute, `relpath` its citable id (posix, unique per corpus)."""

    abspath: str  # kept as str: building 100k Path objects costs more than the stats
    relpath: str
    size: int
    mtime_ns: int
    inode: int

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


def discover(
    roots: Sequence[Path],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Discovery:
    """The files under `roots` (folders or single files), sorted by relpath, and the named skips."""
    filters = _Filters(_spec(include), _spec(exclude), max_file_bytes)
    files: dict[str, SourceFile] = {}
    skipped: dict[str, Skipped] = {}
    for root, prefix in _prefixed(roots):
        for item in _classify_root(root, prefix):
            item = _filter(item, filters)
            if isinstance(item, SourceFile):
                files.setdefault(item.relpath, item)
            elif item is not None:
                skipped.setdefault(item.path, item)
    return Discovery(
        files=tuple(files[key] for key in sorted(files)),
        skipped=tuple(skipped[key] for key in sorted(skipped)),
    )


def _prefixed(roots: Sequence[Path]) -> list[tuple[Path, str]]:
    """Each root with its relpath prefix: none for one root, its folder name for several."""
    absolute = [Path(os.path.abspath(root)) for root in roots]
    for root in absolute:
        if not os.path.lexists(root):
            raise UsageError(f"no such file or folder: {root}")
    if len(absolute) == 1:
        return [(absolute[0], "")]
    seen: dict[str, int] = {}
    result = []
    for root in absolute:
        name = root.name or "root"
        seen[name] = seen.get(name, 0) + 1
        label = name if seen[name] == 1 else f"{name}-{seen[name]}"
        result.append((root, "" if root.is_file() else f"{label}/"))
    return result


def _classify_root(root: Path, prefix: str) -> Iterator[SourceFile | Skipped]:
    if not root.is_dir():
        yield _classify(str(root), prefix + root.name, root.parent)
        return
    relpaths = _git_relpaths(root)
    if relpaths is None:
        relpaths = _walk(root)
    for rel in relpaths:
        if rel.endswith("/"):
            yield Skipped(prefix + rel.rstrip("/"), "nested git repository (not read)")
            continue
        item = _classify(os.path.join(root, rel), prefix + rel, root)
        if item is not None:
            yield item


def _classify(path: str, relpath: str, root: Path) -> SourceFile | Skipped | None:
    """What one listed path is: a file to read, a named skip, or nothing (deleted since listing)."""
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
        return Skipped(relpath, "broken symlink")
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, target]) != real_root:
        return Skipped(relpath, "symlink to outside the root (not followed)")
    info = os.stat(target)
    if stat.S_ISDIR(info.st_mode):
        return Skipped(relpath, "symlink to a folder (not followed)")
    return _regular(path, relpath, info)


def _regular(path: str, relpath: str, info: os.stat_result) -> SourceFile | Skipped:
    if not stat.S_ISREG(info.st_mode):
        return Skipped(relpath, f"not a regular file ({_file_type(info.st_mode)})")
    return SourceFile(path, relpath, info.st_size, info.st_mtime_ns, info.st_ino)


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


def _spec(lines: Sequence[str]) -> pathspec.GitIgnoreSpec | None:
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


def _git_relpaths(root: Path) -> list[str] | None:
    """Paths (relative to `root`) git tracks or would track; None when git has no say here."""
    if (_git(root, "rev-parse", "--is-inside-work-tree") or "").strip() != "true":
        return None
    if _git_ignores_root(root):
        return None
    listing = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                   "--deduplicate")
    if listing is None:
        return None
    return [entry for entry in listing.split("\0") if entry]


def _git_ignores_root(root: Path) -> bool:
    """A root git itself ignores (a build or download folder inside a repo) is walked instead."""
    top = (_git(root, "rev-parse", "--show-toplevel") or "").strip()
    if not top or Path(top) == Path(os.path.realpath(root)):
        return False
    relative = os.path.relpath(os.path.realpath(root), top)
    return _git(Path(top), "check-ignore", "-q", "--", relative + "/") is not None


def _git(cwd: Path, *args: str) -> str | None:
    """Run git in `cwd`; its stdout, or None when git is missing or fails."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except OSError:
        return None
    if done.returncode != 0:
        return None
    return os.fsdecode(done.stdout)


def _walk(root: Path) -> list[str]:
    """Relpaths under `root` that nested .gitignore files do not ignore; .git folders skipped."""
    found: list[str] = []
    stack: list[tuple[Path, str, _Specs]] = [(root, "", ())]
    while stack:
        folder, prefix, specs = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        if any(entry.name == ".gitignore" for entry in entries):
            specs = _with_gitignore(specs, folder / ".gitignore", prefix)
        for entry in entries:
            if entry.name == ".git":
                continue
            rel = prefix + entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if _ignored(specs, rel, is_dir):
                continue
            if is_dir:
                stack.append((Path(entry.path), rel + "/", specs))
            else:
                found.append(rel)
    return found


def _with_gitignore(specs: _Specs, gitignore: Path, prefix: str) -> _Specs:
    try:
        lines = gitignore.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return specs
    spec = _spec(lines)
    return specs if spec is None else (*specs, (prefix, spec))


def _ignored(specs: _Specs, rel: str, is_dir: bool) -> bool:
    """Git's rule: the deepest .gitignore with a matching line decides, its last match wins."""
    verdict = False
    for prefix, spec in specs:
        result = spec.check_file(rel[len(prefix):] + ("/" if is_dir else "")).include
        if result is not None:
            verdict = result
    return verdict
