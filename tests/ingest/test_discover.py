from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from longread.ingest.corpus_spec import CorpusSpec
from longread.ingest.discover import discover
from longread.ingest.errors import IngestError

if TYPE_CHECKING:
    from tests.ingest.conftest import Build

TREE: dict[str, str | bytes] = {
    ".gitignore": "*.log\n!keep.log\nbuild/\n",
    "README.md": "# demo\n",
    "src/app.py": "print('app')\n",
    "src/.gitignore": "*.tmp\n",
    "src/scratch.tmp": "scratch\n",
    "src/nested/deep.py": "x = 1\n",
    "debug.log": "noise\n",
    "keep.log": "kept\n",
    "build/out.txt": "built\n",
    "other.tmp": "only src ignores tmp\n",
}
EXPECTED = ["README.md", "keep.log", "other.tmp", "src/app.py", "src/nested/deep.py"]


def relpaths(root: Path | list[Path], **options: object) -> list[str]:
    roots = root if isinstance(root, list) else [root]
    corpus = CorpusSpec.of(roots, **options)  # type: ignore[arg-type]
    return [f.relpath for f in discover(corpus).files]


def reasons(root: Path, **options: object) -> dict[str, str]:
    corpus = CorpusSpec.of([root], **options)  # type: ignore[arg-type]
    return {s.path: s.reason for s in discover(corpus).skipped}


def make_git_tree(root: Path, build: Build) -> None:
    build.repo(root)
    build.files(root, TREE)
    build.commit(root)


@pytest.mark.parametrize("use_git", [True, False], ids=["git", "walk"])
def test_gitignore_rules_nested_and_negated(tmp_path: Path, use_git: bool, build: Build) -> None:
    root = tmp_path / "repo"
    if use_git:
        make_git_tree(root, build)
    else:
        build.files(root, TREE)
    listed = relpaths(root)
    assert [p for p in listed if not p.endswith(".gitignore")] == EXPECTED
    assert not any(p.startswith(".git/") for p in listed)


def test_git_lists_untracked_not_ignored_and_drops_deleted(tmp_path: Path, build: Build) -> None:
    root = tmp_path / "repo"
    make_git_tree(root, build)
    build.files(root, {"new_untracked.py": "y = 2\n", "fresh.log": "ignored\n"})
    (root / "README.md").unlink()
    listed = relpaths(root)
    assert "new_untracked.py" in listed
    assert "fresh.log" not in listed
    assert "README.md" not in listed


def test_git_info_exclude_is_honoured(tmp_path: Path, build: Build) -> None:
    root = tmp_path / "repo"
    make_git_tree(root, build)
    build.files(root, {"local.cfg": "untracked, then excluded locally\n"})
    assert "local.cfg" in relpaths(root)
    (root / ".git" / "info" / "exclude").write_text("local.cfg\n")
    assert "local.cfg" not in relpaths(root)


def test_subfolder_of_repo_as_root(tmp_path: Path, build: Build) -> None:
    root = tmp_path / "repo"
    make_git_tree(root, build)
    build.files(root, {"src/sub.log": "ignored by the parent .gitignore\n"})
    assert relpaths(root / "src") == [".gitignore", "app.py", "nested/deep.py"]


def test_folder_the_repo_ignores_is_walked(tmp_path: Path, build: Build) -> None:
    root = tmp_path / "repo"
    make_git_tree(root, build)
    build.files(root, {"build/vendor/lib.py": "z = 3\n", "build/vendor/.gitignore": "*.o\n",
                       "build/vendor/lib.o": "obj\n"})
    assert relpaths(root / "build" / "vendor") == [".gitignore", "lib.py"]


def test_broken_gitignore_lines_are_dropped_not_fatal(tmp_path: Path, build: Build) -> None:
    build.files(tmp_path, {".gitignore": "[z-a]\n!\nfoo\\\n*.log\n", "a.log": "x", "a.py": "y"})
    assert relpaths(tmp_path) == [".gitignore", "a.py"]


def test_include_and_exclude(tmp_path: Path, build: Build) -> None:
    root = tmp_path / "repo"
    make_git_tree(root, build)
    assert relpaths(root, include=["*.py"]) == ["src/app.py", "src/nested/deep.py"]
    assert relpaths(root, include=["*.py"], exclude=["nested/"]) == ["src/app.py"]
    assert reasons(root, exclude=["nested/"])["src/nested/deep.py"] == "excluded by --exclude"


def test_size_cap_is_named(tmp_path: Path, build: Build) -> None:
    build.files(tmp_path, {"small.txt": "x" * 10, "big.txt": "x" * 2000})
    assert relpaths(tmp_path, max_file_bytes=1000) == ["small.txt"]
    assert reasons(tmp_path, max_file_bytes=1000)["big.txt"].startswith("too large (2,000 bytes")


@pytest.mark.parametrize("use_git", [True, False], ids=["git", "walk"])
def test_symlinks_never_leave_the_root(tmp_path: Path, use_git: bool, build: Build) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("do not read\n")
    root = tmp_path / "root"
    if use_git:
        build.repo(root)
    build.files(root, {"real.txt": "inside\n", "dir/a.txt": "a\n"})
    (root / "to_outside.txt").symlink_to(outside)
    (root / "alias.txt").symlink_to(root / "real.txt")
    (root / "loop_a").symlink_to(root / "loop_b")
    (root / "loop_b").symlink_to(root / "loop_a")
    (root / "dir_link").symlink_to(root / "dir")
    result = discover(CorpusSpec.of([root]))
    skipped = {s.path: s.reason for s in result.skipped}
    assert [f.relpath for f in result.files] == ["alias.txt", "dir/a.txt", "real.txt"]
    assert skipped["to_outside.txt"] == "symlink to outside the root (not followed)"
    assert skipped["loop_a"] == skipped["loop_b"] == "symlink loop"
    assert skipped["dir_link"] == "symlink to a folder (not followed)"
    alias = next(f for f in result.files if f.relpath == "alias.txt")
    assert alias.path == root / "alias.txt"


def test_fifo_is_named(tmp_path: Path, build: Build) -> None:
    build.files(tmp_path, {"a.txt": "a"})
    os.mkfifo(tmp_path / "pipe")
    assert reasons(tmp_path)["pipe"] == "not a regular file (fifo)"


def test_file_root_and_several_roots(tmp_path: Path, build: Build) -> None:
    build.files(tmp_path, {"one/a.py": "a", "two/a.py": "b", "single.md": "s"})
    assert relpaths(tmp_path / "single.md") == ["single.md"]
    several = [tmp_path / "one", tmp_path / "two", tmp_path / "single.md"]
    assert relpaths(several) == ["one/a.py", "single.md", "two/a.py"]


def test_missing_root_is_a_corpus_error(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file"):
        discover(CorpusSpec.of([tmp_path / "absent"]))


def test_nested_git_repository_is_named(tmp_path: Path, build: Build) -> None:
    root = tmp_path / "repo"
    make_git_tree(root, build)
    build.repo(root / "vendored")
    build.files(root / "vendored", {"x.py": "x"})
    build.git(root / "vendored", "add", "x.py")
    assert reasons(root)["vendored"] == "nested git repository (not read)"


def test_deep_folders_and_odd_names(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d"] * 200)
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("deep\n")
    (tmp_path / "new\nline.txt").write_text("x")
    (tmp_path / "naïve café.txt").write_text("x")
    listed = relpaths(tmp_path)
    assert "/".join(["d"] * 200) + "/bottom.txt" in listed
    assert {"new\\nline.txt", "naïve café.txt"} <= set(listed)
    files = {f.relpath: f for f in discover(CorpusSpec.of([tmp_path])).files}
    assert all(f.path.is_absolute() for f in files.values())
    assert files["new\\nline.txt"].path == tmp_path / "new\nline.txt"
