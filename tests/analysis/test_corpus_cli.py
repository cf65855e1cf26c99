"""What `longread pack` reads, through the CLI on real trees: binaries found anywhere in a file,
plain-folder defaults, .longreadignore, earlier packs, several paths, empty corpora, odd names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from longread.analysis.cli.commands import cli
from tests.fakes import register_fake
from tests.trees import write_files as write

XMP_HEADER = (
    b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<</Metadata 2 0 R>>\nendobj\n"
    b"2 0 obj\n<</Subtype/XML>>\nstream\n<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?>\n"
    b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>\n"
    + b"  <xmp:CreatorTool>Adobe Illustrator CS6 (Macintosh)</xmp:CreatorTool>\n" * 200
    + b"</x:xmpmeta>\n<?xpacket end='w'?>\nendstream\nendobj\n"
)
TEXT = "line of ordinary prose, nothing binary about it at all.\n"


def pack(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "pack", *args])


def manifest(tmp_path: Path, *args: str) -> dict[str, dict[str, str]]:
    result = pack(tmp_path, *args, "--json")
    assert result.exit_code == 0, result.output
    return {entry["path"]: entry for entry in json.loads(result.stdout)["documents"]}


def test_binary_after_a_long_text_header_is_skipped_and_counted(tmp_path: Path) -> None:
    middle = bytes(range(1, 9)) * 32 * 1024  # 256 KiB of control bytes, no NUL
    write(tmp_path / "corpus", {
        "ext/logo.ai": XMP_HEADER + b"\x00\x01\x02compressed\x00stream" * 2000,
        "ext/blob.dat": TEXT.encode() * 20_000 + middle + TEXT.encode() * 20_000,
        "notes.txt": "Page one\n\x0cPage two \x1b[1mbold\x1b[0m\n" + TEXT * 400,
    })
    assert len(XMP_HEADER) > 8192
    result = pack(tmp_path, str(tmp_path / "corpus"), "--manifest", str(tmp_path / "m.json"),
                  "-o", str(tmp_path / "pack.xml"))
    assert result.exit_code == 0, result.output
    entries = {e["path"]: e for e in json.loads((tmp_path / "m.json").read_text())["documents"]}
    assert entries["ext/logo.ai"]["reason"] == "binary (NUL bytes)"
    assert entries["ext/blob.dat"]["reason"] == "binary (control characters)"
    assert entries["notes.txt"]["fidelity"] == "full"
    assert b"\0" not in (tmp_path / "pack.xml").read_bytes()
    skip_lines = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert skip_lines == ["longread: skipped 2: 2 binary — see --manifest"]


def test_ask_names_its_skips_on_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_fake(monkeypatch)
    write(tmp_path / "corpus", {"app.py": "x = 1\n", "logo.png": b"\x89PNG\r\n\x1a\n\0\0\0\r"})
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "ask", "--backend",
                                      "fake", str(tmp_path / "corpus"), "what is x?", "--json"])
    assert result.exit_code == 0, result.output
    assert "longread: skipped 1: 1 binary — see longread pack --manifest" in result.stderr


def test_plain_folder_defaults_and_longreadignore(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root, {
        "src/app.py": "x = 1\n", "Cargo.toml": "[package]\n", "target/debug/out.rs": "junk\n",
        "docs/target/notes.md": "a folder named target with no Cargo.toml beside it\n",
        ".venv/lib/site.py": "v\n", "venv/lib/site.py": "v\n", "node_modules/x/index.js": "n\n",
        "env/pyvenv.cfg": "home = /usr\n", "env/lib/site.py": "e\n", "__pycache__/a.pyc": "c",
        ".mypy_cache/x.json": "{}", ".pytest_cache/README.md": "p", ".ruff_cache/x": "r",
        ".tox/py/x.py": "t", ".nox/x.py": "n", "dist/pkg.tar.gz": "d", "pkg.egg-info/PKG-INFO": "e",
        ".idea/workspace.xml": "<x/>", ".hg/store": "h", ".svn/entries": "s",
        "vendored/.git": "gitdir: ../.git/modules/vendored\n", "vendored/lib.py": "z = 3\n",
        "build/generated.py": "kept: .longreadignore negates the default\n",
        "private/diary.md": "left out by .longreadignore\n",
        ".longreadignore": "private/\n!build/\n",
    })
    assert set(manifest(tmp_path, str(root))) == {
        ".longreadignore", "Cargo.toml", "build/generated.py", "docs/target/notes.md", "src/app.py",
        "vendored/lib.py",
    }


def test_longreadignore_in_a_git_work_tree(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write(root, {
        "src/app.py": "x = 1\n", "src/generated_models.py": "y = 2\n", "uv.lock": "lock\n",
        "docs/guide.md": "guide\n", "build/tracked.py": "git decides: tracked, so packed\n",
        ".longreadignore": "*.lock\ndocs/\n", "src/.longreadignore": "generated_*.py\n",
    })
    git_commit(root, ".")
    assert set(manifest(tmp_path, str(root))) == {
        ".longreadignore", "build/tracked.py", "src/.longreadignore", "src/app.py",
    }


@pytest.mark.parametrize("fmt", ["xml", "markdown", "plain"])
def test_an_earlier_pack_in_the_folder_is_not_packed_again(tmp_path: Path, fmt: str) -> None:
    write(tmp_path / "corpus", {"app.py": "x = 1\n"})
    first = pack(tmp_path, str(tmp_path / "corpus"), "--format", fmt,
                 "-o", str(tmp_path / "corpus" / "old-context.txt"))
    assert first.exit_code == 0, first.output
    entries = manifest(tmp_path, str(tmp_path / "corpus"))
    assert entries["old-context.txt"]["reason"] == "an earlier longread pack (not packed again)"
    assert entries["app.py"]["fidelity"] == "full"


def test_several_paths_give_unique_ids_and_count_each_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, {"a/app.py": "a = 1\n", "b/sansio/app.py": "b = 2\n", "b/top.py": "t = 3\n"})
    monkeypatch.chdir(tmp_path)
    assert set(manifest(tmp_path, "a/app.py", "b/sansio/app.py")) == {
        "a/app.py", "b/sansio/app.py"}
    assert set(manifest(tmp_path, "b", "b/sansio")) == {"sansio/app.py", "top.py"}
    twice = pack(tmp_path, "b", "b")
    assert twice.exit_code == 0 and twice.stdout == pack(tmp_path, "b").stdout
    assert set(manifest(tmp_path, "a", "b/sansio/app.py")) == {"a/app.py", "b/sansio/app.py"}


@pytest.mark.parametrize("case", ["missing", "empty", "no-include-match", "all-binary"])
def test_nothing_to_pack_is_one_line_and_exit_3(tmp_path: Path, case: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write(corpus, {"app.py": "x = 1\n"} if case == "no-include-match" else {})
    if case == "all-binary":
        write(corpus, {"a.png": b"\0PNG", "b.bin": b"\0\1"})
    args = {"missing": [str(tmp_path / "nowhere")], "no-include-match": [
        str(corpus), "--include", "*.nomatch"]}.get(case, [str(corpus)])
    result = pack(tmp_path, *args, "-o", str(tmp_path / "pack.xml"))
    assert result.exit_code == 3
    expected = {
        "missing": f"no such file or directory: {tmp_path / 'nowhere'}",
        "empty": f"no files to pack in {corpus}",
        "no-include-match": f"no files to pack in {corpus} matching the include patterns "
                            "'*.nomatch'",
        "all-binary": f"no files to pack in {corpus} (skipped 2: 2 binary)",
    }[case]
    assert result.stderr.splitlines() == [f"longread: error: {expected}"]
    assert not (tmp_path / "pack.xml").exists()


def test_latin1_text_and_a_newline_in_a_name(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "menu.txt").write_bytes("café crème\n".encode("latin-1"))
    (root / "line\nbreak.txt").write_text("a name with a newline\n", encoding="utf-8")
    result = pack(tmp_path, str(root))
    assert result.exit_code == 0, result.output
    assert "café crème\n" in result.stdout
    tree = result.stdout.split("<file_tree>\n", 1)[1].split("</file_tree>", 1)[0]
    assert tree.splitlines() == ["line\\nbreak.txt [full]", "menu.txt [full]"]


def git_commit(root: Path, *paths: str) -> None:
    """A real git work tree at `root` with `paths` committed (the rest stays untracked)."""
    for args in (["init", "-q"], ["add", *paths],
                 ["-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def _unprivileged() -> list[str]:
    """A prefix that runs a command without root's power to read anything (as root: setpriv
    drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: mode 000 does not stop reads")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.slow
@pytest.mark.parametrize("use_git", [True, False], ids=["git", "walk"])
def test_unreadable_folders_and_symlink_targets_are_named(tmp_path: Path, use_git: bool) -> None:
    root = tmp_path / "corpus"
    write(root, {"ok.txt": "fine\n", "locked/secret.txt": "hidden\n"})
    if use_git:
        git_commit(root, "ok.txt")
    (root / "to-locked.txt").symlink_to(root / "locked" / "secret.txt")
    (root / "dangling.txt").symlink_to(root / "gone.txt")
    (root / "loop").symlink_to(root / "loop")
    (root / "locked").chmod(0)
    try:
        done = subprocess.run(
            [*_unprivileged(), sys.executable, "-m", "longread.analysis.cli",
             "--cache-dir", str(tmp_path / "cache"), "pack", str(root), "--json"],
            capture_output=True, text=True, check=False,
        )
    finally:
        (root / "locked").chmod(0o755)
    assert done.returncode == 0, done.stderr
    reasons = {e["path"]: e.get("reason") for e in json.loads(done.stdout)["documents"]}
    assert reasons == {
        "ok.txt": None,
        "locked": "unreadable folder (Permission denied)",
        "to-locked.txt": "unreadable symlink target (Permission denied)",
        "dangling.txt": "broken symlink",
        "loop": "symlink loop",
    }
    assert [line for line in done.stderr.splitlines() if "skipped" in line] == [
        "longread: skipped 4: 1 broken symlink, 1 symlink loop, 1 unreadable folder, "
        "1 unreadable symlink target — see --manifest"
    ]


@pytest.mark.parametrize("use_git", [True, False], ids=["git", "walk"])
def test_a_symlink_carries_nothing_its_target_would_not(tmp_path: Path, use_git: bool) -> None:
    """An alias of a packed file is followed; a link to a secrets file or to an ignored file is a
    named skip, so neither the pack (nor `serve`/`mcp` read, which read the pack's documents) shows
    what the target's own path would not."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "real.txt").write_text("inside\n")
    (root / ".env").write_text("DB_PASSWORD=hunter2-Zq8Rk3Wx9Lp4\n")
    (root / ".gitignore").write_text("private/\n")
    (root / "private").mkdir()
    (root / "private" / "notes.txt").write_text("kept out by .gitignore\n")
    (root / ".longreadignore").write_text("private/\n")
    (root / "alias.txt").symlink_to(root / "real.txt")
    (root / "notes.txt").symlink_to(root / ".env")
    (root / "public.txt").symlink_to(root / "private" / "notes.txt")
    if use_git:
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "pack", str(root),
                                      "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    packed = {doc["path"] for doc in data["documents"] if doc["fidelity"] != "skipped"}
    skipped = {doc["path"]: doc["reason"] for doc in data["documents"]
               if doc["fidelity"] == "skipped"}
    assert {"real.txt", "alias.txt"} <= packed and not {"notes.txt", "public.txt"} & packed
    assert skipped["notes.txt"] == "symlink to a secrets file (.env)"
    assert skipped["public.txt"].startswith("symlink to a file that is not packed itself")
    assert "hunter2" not in result.stdout and "kept out" not in result.stdout
