"""The diff parser on real `git diff` and `diff -u` output, and fuzzed input it must survive."""

from __future__ import annotations

import difflib
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longread.analysis.jobs.diff import file_texts, parse_diff
from longread.ingest.lines import split_lines


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    (repo / "keep.py").write_text("".join(f"line {n}\n" for n in range(1, 21)))
    (repo / "gone.txt").write_text("bye\n")
    (repo / "old_name.py").write_text("".join(f"stable {n}\n" for n in range(1, 30)))
    (repo / "blob.bin").write_bytes(b"\x00\x01\x02" * 50)
    (repo / "tail.txt").write_text("a\nb")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    return repo


def change_everything(repo: Path) -> None:
    lines = [f"line {n}\n" for n in range(1, 21)]
    lines[4] = "changed 5\n"
    del lines[9]
    lines.insert(15, "inserted\n")
    (repo / "keep.py").write_text("".join(lines))
    (repo / "gone.txt").unlink()
    (repo / "fresh.py").write_text("def f():\n    return 1\n")
    git(repo, "mv", "old_name.py", "new name.py")
    (repo / "blob.bin").write_bytes(b"\x00\x09\x02" * 60)
    (repo / "tail.txt").write_text("a\nc")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "change")


def test_real_git_diff_add_modify_delete_rename_binary_no_newline(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    change_everything(repo)
    text = git(repo, "diff", "-M", "HEAD~1", "HEAD")
    diff = parse_diff(text)
    assert diff.errors == ()
    by_path = {item.path: item for item in diff.files}
    assert set(by_path) == {
        "keep.py",
        "gone.txt",
        "fresh.py",
        "new name.py",
        "blob.bin",
        "tail.txt",
    }
    keep = by_path["keep.py"]
    assert keep.status == "modified"
    assert keep.added_lines == {5, 16}
    assert keep.changed_positions - keep.added_lines == {10}
    assert by_path["gone.txt"].status == "deleted" and by_path["gone.txt"].new_path is None
    assert by_path["fresh.py"].status == "added" and by_path["fresh.py"].added_lines == {1, 2}
    renamed = by_path["new name.py"]
    assert (renamed.status, renamed.old_path, renamed.hunks) == ("renamed", "old_name.py", ())
    assert by_path["blob.bin"].binary and by_path["blob.bin"].hunks == ()
    parts = file_texts(text, diff)
    assert "".join(part for _, part in parts) == text and parts[0] == (None, "")
    assert [part.split("\n", 1)[0] for _, part in parts[1:]] == [
        f"diff --git a/{item.old_path or item.new_path} b/{item.new_path or item.old_path}"
        for item in diff.files
    ]
    assert by_path["tail.txt"].added_lines == {2}


def test_quoted_non_ascii_path(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "café\tmenu.py").write_text("x = 1\n")
    git(repo, "add", "-A")
    diff = parse_diff(git(repo, "diff", "--cached"))
    assert [item.path for item in diff.files] == ["café\tmenu.py"]
    assert diff.files[0].added_lines == {1}


def test_plain_diff_u_with_timestamps(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("one\ntwo\nthree\n")
    (tmp_path / "new.txt").write_text("one\n2\nthree\nfour\n")
    result = subprocess.run(
        ["diff", "-u", "old.txt", "new.txt"], cwd=tmp_path, capture_output=True, text=True
    )
    diff = parse_diff(result.stdout)
    assert diff.errors == ()
    (item,) = diff.files
    assert (item.old_path, item.new_path, item.status) == ("old.txt", "new.txt", "modified")
    assert item.added_lines == {2, 4}


def test_truncated_and_garbage_input_reports_errors() -> None:
    text = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,4 @@\n a\n+b\n"
    diff = parse_diff(text + "@@ nonsense @@\n")
    assert diff.files[0].added_lines == {2}
    assert len(diff.errors) == 2


def test_two_plain_files_in_one_diff() -> None:
    text = "--- a/one\n+++ b/one\n@@ -1 +1 @@\n-x\n+y\n--- a/two\n+++ b/two\n@@ -0,0 +1 @@\n+z\n"
    diff = parse_diff(text)
    assert [(f.path, f.added_lines) for f in diff.files] == [("one", {1}), ("two", {1})]


diff_lines = st.sampled_from(
    [
        "diff --git a/x b/x",
        'diff --git "a/\\303\\251\\9" b/y',
        "--- a/x",
        "+++ b/x",
        "--- /dev/null",
        "+++ /dev/null",
        "@@ -1,2 +1,3 @@",
        "@@ -0,0 +1 @@ def f():",
        "@@ -5 +5,0 @@",
        "@@ -1,999999999 +1 @@",
        "+added",
        "-removed",
        " context",
        "",
        "\\ No newline at end of file",
        "rename from a",
        "rename to b",
        "new file mode 100644",
        "deleted file mode 100644",
        "Binary files a/x and b/x differ",
        "GIT binary patch",
    ]
)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(diff_lines, st.text(max_size=40)), max_size=40))
def test_parser_never_raises_on_any_input(lines: list[str]) -> None:
    diff = parse_diff("\n".join(lines))
    for item in diff.files:
        for hunk in item.hunks:
            assert all(line >= 0 for line in hunk.added)


SEPARATORS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\r\n", "\n"]
file_text = st.lists(
    st.one_of(st.sampled_from(SEPARATORS), st.sampled_from(["a", "b", " ", "x = 1", "é"])),
    max_size=30,
).map(lambda pieces: "".join(pieces) + "\n")


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(file_text, file_text)
def test_parsed_added_lines_are_the_true_added_lines(old: str, new: str) -> None:
    """Round trip through difflib over lines as git counts them (ended by "\n"): every other
    break is content, so the parsed new-side numbers are exactly the inserted lines, and each
    one's text is that line of the new file."""
    old_lines = split_lines(old, keepends=True)
    new_lines = split_lines(new, keepends=True)
    text = "".join(difflib.unified_diff(old_lines, new_lines, "a/f.txt", "b/f.txt"))
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines)  # as unified_diff
    truth = {
        j + 1
        for tag, _, _, j1, j2 in matcher.get_opcodes()
        if tag in ("insert", "replace")
        for j in range(j1, j2)
    }
    diff = parse_diff(text)
    assert diff.errors == ()
    added = diff.files[0].added_lines if diff.files else frozenset()
    assert added == truth
    plus = [line[1:] for line in split_lines(text)[2:] if line.startswith("+")]
    assert [split_lines(new)[n - 1] for n in sorted(added)] == plus
    parts = file_texts(text, diff)
    assert "".join(part for _, part in parts) == text
    assert all(part.startswith("--- a/f.txt\n") for item, part in parts if item is not None)
