"""What `review` reviews: a diff and the tree its new side can be read from, resolved from git
(base..head, or base..work tree) or from a diff file.

Input that is not a unified diff is refused with one line (a CI gate must not read a truncated
patch or a saved HTML error page as "no changes"); an empty diff is a clean, empty change.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from longread.analysis.jobs.diff import Diff, parse_diff
from longread.ingest.errors import UsageError


@dataclass(frozen=True)
class ReviewInputs:
    """What to review: a git range in `repo`, or a unified diff file (`-` for stdin)."""

    repo: Path = Path()
    base: str | None = None
    head: str | None = None
    diff_file: str | None = None
    worktree: bool = False


@dataclass(frozen=True)
class Change:
    """A resolved input: the diff, the trees it joins, and where its new side can be read."""

    diff_text: str
    diff: Diff
    base_tree: str
    root: Path | None
    head: str | None  # a commit to read files from; None reads the work tree

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.diff_text.encode("utf-8", "surrogateescape")).hexdigest()


def run_git(root: Path, *args: str, check: bool = True) -> str:
    """git's stdout; a failure (with `check`) becomes one UsageError line, git's first line."""
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=check)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = (getattr(exc, "stderr", b"") or b"").decode(errors="replace").strip()
        first = detail.partition("\n")[0] if detail else str(exc)
        raise UsageError(f"git {' '.join(args[:2])}: {first}") from exc
    return done.stdout.decode("utf-8", "surrogateescape") if done.returncode == 0 else ""


def resolve_change(inputs: ReviewInputs) -> Change:
    """The diff to review and its base tree, from `--diff` or from git."""
    root = _repo_root(inputs.repo)
    if inputs.diff_file is not None:
        text = _read_diff_file(inputs.diff_file)
        tree = "" if root is None else run_git(root, "rev-parse", "HEAD^{tree}", check=False)
        return Change(text, _parse(text, inputs.diff_file), tree.strip(), root, None)
    if root is None:
        raise UsageError(f"{inputs.repo} is not in a git repository: give --diff FILE")
    if inputs.worktree and inputs.head:
        raise UsageError("--worktree compares the base with the work tree; drop --head")
    head = None if inputs.worktree else _commit(root, inputs.head or "HEAD", "--head")
    base = _commit(root, inputs.base, "--base") if inputs.base else _default_base(root, head)
    args = ["diff", "--no-color", "--no-ext-diff", "-M", "--src-prefix=a/", "--dst-prefix=b/", base]
    text = run_git(root, *args, *([head] if head else []))
    base_tree = run_git(root, "rev-parse", f"{base}^{{tree}}").strip()
    return Change(text, _parse(text, "git diff"), base_tree, root, head)


def _parse(text: str, source: str) -> Diff:
    """The parsed diff; text with no file header in it (or with NUL bytes) is not a diff."""
    if "\0" in text:
        raise UsageError(f"{source} is binary, not a unified diff")
    diff = parse_diff(text)
    if text.strip() and not diff.files:
        raise UsageError(f"{source} is not a unified diff (no ---/+++ or diff --git header)")
    return diff


def _commit(root: Path, ref: str, flag: str) -> str:
    """The commit `ref` names, or one line saying the flag's revision is unknown."""
    sha = run_git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if not sha.strip():
        raise UsageError(f"{flag} {ref}: no such commit in {root}")
    return sha.strip()


def _repo_root(path: Path) -> Path | None:
    if not path.exists():
        raise UsageError(f"no such folder: {path}")
    top = run_git(path, "rev-parse", "--show-toplevel", check=False).strip()
    return Path(top) if top else None


def _read_diff_file(name: str) -> str:
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read diff {name}: {exc.strerror}") from exc
    return data.decode("utf-8", "surrogateescape")


def _default_base(root: Path, head: str | None) -> str:
    """merge-base of head with origin/HEAD, else main, else master."""
    origin = run_git(root, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD", check=False)
    for candidate in (origin.strip(), "main", "master", "origin/main", "origin/master"):
        if candidate and run_git(root, "rev-parse", "--verify", "--quiet", candidate, check=False):
            base = run_git(root, "merge-base", candidate, head or "HEAD", check=False).strip()
            if base:
                return base
    raise UsageError("cannot find the default branch (origin/HEAD, main or master): give --base")


@contextmanager
def new_side(change: Change) -> Iterator[Path | None]:
    """A folder holding the change's new side: the work tree when that is what the diff's head
    is (no commit named, or the checked-out commit with no local edits), else the head commit
    written out to a temporary folder. None when there is no repository to read."""
    if change.root is None or change.head is None or _is_checked_out(change.root, change.head):
        yield change.root
        return
    archive = subprocess.run(
        ["git", "-C", str(change.root), "archive", "--format=tar", change.head],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        detail = archive.stderr.decode(errors="replace").strip().partition("\n")[0]
        raise UsageError(f"git archive {change.head}: {detail}")
    with tempfile.TemporaryDirectory(prefix="longread-review-") as folder:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(folder, filter=_inside)
        yield Path(folder)


def _inside(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile's "data" filter, but a member it refuses (a link out of the tree) is left out."""
    try:
        return tarfile.data_filter(member, dest)
    except tarfile.FilterError:
        return None


def context_tree(change: Change) -> str:
    """What names the files review reads for context, for its cache key: the head commit when
    they come from it, else a tree id of the work tree as it is now (tracked edits and untracked,
    unignored files included). A throwaway index and object folder take what git writes for it,
    so the user's index and `.git/objects` stay untouched."""
    if change.root is None:
        return ""
    if change.head is not None and not _is_checked_out(change.root, change.head):
        return change.head
    git_dir = Path(run_git(change.root, "rev-parse", "--absolute-git-dir").strip())
    with tempfile.TemporaryDirectory(prefix="longread-index-") as folder:
        index = Path(folder) / "index"
        if (git_dir / "index").is_file():
            shutil.copyfile(git_dir / "index", index)
        objects = Path(folder) / "objects"
        objects.mkdir()
        env = {**os.environ, "GIT_INDEX_FILE": str(index), "GIT_OBJECT_DIRECTORY": str(objects),
               "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(git_dir / "objects")}
        for args in (["add", "--all", "--", "."], ["write-tree"]):
            done = subprocess.run(
                ["git", "-C", str(change.root), *args], capture_output=True, env=env, check=False
            )
            if done.returncode != 0:
                detail = done.stderr.decode(errors="replace").strip().partition("\n")[0]
                raise UsageError(f"git {args[0]}: {detail}")
        return "worktree:" + done.stdout.decode().strip()


def _is_checked_out(root: Path, head: str) -> bool:
    current = run_git(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip()
    edited = run_git(root, "status", "--porcelain", "--untracked-files=no", check=False)
    return current == head and not edited.strip()
