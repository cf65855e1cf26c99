"""`longread pack` over a hostile tree: it finishes, follows nothing outside, names every skip."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from longread.analysis.cli.commands import cli

OUTSIDE_MARKER = "OUTSIDE-THE-ROOT-7f3a9c"
TINY_FILES = 50_000
DEPTH = 200
HUGE_LINE_BYTES = 200 * 2**20


def build_hostile_tree(root: Path, outside: Path) -> dict[str, str]:
    """Writes the tree; returns {relpath: what the manifest must say about it}."""
    outside.write_text(f"{OUTSIDE_MARKER}\n", encoding="utf-8")
    expected: dict[str, str] = {}
    (root / "loop").symlink_to(root / "loop")
    (root / "escape.txt").symlink_to(outside)
    (root / "escape-dir").symlink_to(outside.parent, target_is_directory=True)
    os.mkfifo(root / "pipe")
    (root / "huge.txt").write_bytes(b"a" * HUGE_LINE_BYTES)
    (root / "fake.py").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8)
    (root / "latin.txt").write_bytes("caf\xe9 cr\xe8me br\xfbl\xe9e\n".encode("latin-1"))
    (root / "bad-utf8.md").write_bytes(b"valid start \xff\xfe\xfd then \xc3\x28 broken\n")
    (root / ".gitignore").write_text("[unclosed\n[z-a]\n!\nignored.log\n\\\n", encoding="utf-8")
    (root / "ignored.log").write_text("must not be packed\n", encoding="utf-8")
    (root / "line\nbreak.txt").write_text("a name with a newline\n", encoding="utf-8")
    (root / "naïve-日本語.txt").write_text("non-ASCII name\n", encoding="utf-8")
    deep = root.joinpath(*[f"d{i}" for i in range(DEPTH)])
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("deepest file\n", encoding="utf-8")
    tiny = root / "tiny"
    tiny.mkdir()
    for index in range(TINY_FILES):
        (tiny / f"f{index:05d}.txt").write_text(f"{index}\n", encoding="utf-8")
    expected.update(
        {
            "loop": "skipped",
            "escape.txt": "skipped",
            "escape-dir": "skipped",
            "pipe": "skipped",
            "huge.txt": "skipped",
            "fake.py": "skipped",
            "latin.txt": "full",
            "bad-utf8.md": "full",
            "naïve-日本語.txt": "full",
            "line\\nbreak.txt": "full",  # the id escapes the newline: one tree line
            "/".join([*(f"d{i}" for i in range(DEPTH)), "bottom.txt"]): "full",
        }
    )
    return expected


@pytest.mark.slow
def test_pack_survives_a_hostile_tree(tmp_path: Path) -> None:
    root, outside = tmp_path / "corpus", tmp_path / "secret" / "outside.txt"
    root.mkdir()
    outside.parent.mkdir()
    expected = build_hostile_tree(root, outside)
    manifest_file = tmp_path / "manifest.json"
    result = CliRunner().invoke(
        cli,
        ["--cache-dir", str(tmp_path / "cache"), "pack", str(root),
         "--manifest", str(manifest_file), "--output", str(tmp_path / "pack.xml")],
    )
    assert result.exit_code == 0, result.output
    pack_text = (tmp_path / "pack.xml").read_text(encoding="utf-8")
    assert OUTSIDE_MARKER not in pack_text
    assert "must not be packed" not in pack_text
    assert "line\\nbreak.txt [full]\n" in pack_text  # one tree line, not two
    documents = {d["path"]: d for d in json.loads(manifest_file.read_text())["documents"]}
    for path, fidelity in expected.items():
        assert path in documents, f"{path!r} is not named in the manifest"
        assert documents[path]["fidelity"] == fidelity, documents[path]
        if fidelity == "skipped":
            assert documents[path]["reason"], f"{path!r} skipped without a reason"
    assert sum(path.startswith("tiny/") for path in documents) == TINY_FILES
    assert "ignored.log" not in documents
    assert "crème" in pack_text
