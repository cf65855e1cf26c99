"""How `longread pack --budget` spends its tokens, through the CLI on real git repositories: the
symbol graph ranks, machine-made files wait, the tree folds, a large file keeps what is asked."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from click.testing import CliRunner

from longread.analysis.cli.commands import cli
from longread.ingest.lines import split_lines
from longread.ingest.tokens import TiktokenCounter
from tests.trees import write_files

COUNTER = TiktokenCounter()


def make_repo(root: Path, files: dict[str, str | bytes]) -> Path:
    write_files(root, files)
    for args in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


def pack(tmp_path: Path, root: Path, *args: str) -> tuple[str, dict]:
    out = tmp_path / "pack.xml"
    result = CliRunner().invoke(
        cli, ["--cache-dir", str(tmp_path / "cache"), "pack", str(root), "-o", str(out),
              "--json", *args],
    )
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8"), json.loads(result.stdout)


def fidelities(manifest: dict) -> dict[str, str]:
    return {entry["path"]: entry["fidelity"] for entry in manifest["documents"]}


def filler(name: str, n: int) -> str:
    return "".join(f"def {name}_{i}(x):\n    total = x * {i}\n    return total\n\n"
                   for i in range(n))


def test_without_a_query_the_file_everything_uses_ranks_first(tmp_path: Path) -> None:
    """Every file scores zero on names and priors here: only the symbol graph puts z_core.py
    (defined last alphabetically, used by every other module) ahead of its neighbours."""
    files = {
        f"app/a_mod{i}.py": f"from app.z_core import lookup_handler\n\n{filler(f'task{i}', 12)}"
        f"def run_{i}(event):\n    return lookup_handler(event)\n"
        for i in range(8)
    }
    files["app/z_core.py"] = "def lookup_handler(event):\n    return event\n\n" + filler("h", 12)
    root = make_repo(tmp_path / "repo", files)
    text, manifest = pack(tmp_path, root, "--budget", "1200")
    fidelity = fidelities(manifest)
    assert manifest["tokens"] == COUNTER.count(text) <= 1200
    assert fidelity["app/z_core.py"] == "full"
    assert [f for f in fidelity.values() if f == "full"].count("full") < len(files) - 4


def test_lock_files_wait_unless_the_query_names_them(tmp_path: Path) -> None:
    lock = "".join(f'[[package]]\nname = "pkg{i}"\nversion = "1.{i}"\n\n' for i in range(60))
    root = make_repo(tmp_path / "repo", {
        "uv.lock": lock,
        "app/main.py": filler("step", 40),
        "app/util.py": filler("helper", 40),
    })
    _, manifest = pack(tmp_path, root, "--budget", "2500", "--query", "which package versions")
    assert fidelities(manifest)["uv.lock"] != "full"
    _, named = pack(tmp_path, root, "--budget", "2500", "--query", "what does uv.lock pin")
    assert fidelities(named)["uv.lock"] == "full"


def test_the_tree_folds_to_its_share_and_names_skipped_files(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        f"pkg/area{i % 6}/module_{i:03d}.py": f"VALUE_{i} = {i}\n" for i in range(300)
    }
    files["pkg/area1/logo.png"] = b"\x89PNG\r\n\x1a\n\x00\x00binary\x00" * 20
    files["README.md"] = "# Demo\n" + "Some words about the demo.\n" * 40
    root = make_repo(tmp_path / "repo", files)
    text, manifest = pack(tmp_path, root, "--budget", "4000")
    tree = text.split("<file_tree>\n", 1)[1].split("</file_tree>", 1)[0]
    assert COUNTER.count(tree) <= 0.15 * 4000
    assert re.search(r"^pkg/area\d/ \[(path: \d+ files|\d+ files: \d+ full, \d+ path)\]$",
                     tree, re.M), tree
    assert "pkg/area1/ [skipped 1: 1 binary" in tree
    assert "lists every file" not in text
    assert sum(1 for f in fidelities(manifest).values() if f == "path") > 100


def test_a_file_too_large_for_the_budget_keeps_the_function_asked_about(tmp_path: Path) -> None:
    before, after = filler("prepare", 120), filler("cleanup", 120)
    target = (
        "def resolve_fixture_scope(request, fixture):\n"
        "    '''Pick the narrowest scope that still covers the request.'''\n"
        "    scope = fixture.scope or request.scope\n"
        "    return scope\n\n"
    )
    source = before + target + after
    root = make_repo(tmp_path / "repo", {"big.py": source, "README.md": "# Big\n"})
    text, manifest = pack(tmp_path, root, "--budget", "2000", "--line-numbers",
                          "--query", "How is the fixture scope resolved?")
    assert manifest["tokens"] == COUNTER.count(text) <= 2000
    entry = next(e for e in manifest["documents"] if e["path"] == "big.py")
    first = split_lines(source).index("def resolve_fixture_scope(request, fixture):") + 1
    assert entry["fidelity"] == "full" and entry["part"]["rest"] in ("outline", "partial outline")
    assert manifest["tokens"] >= 0.95 * 2000
    assert any(low <= first and first + 3 <= high for low, high in entry["part"]["ranges"])
    lines = split_lines(source)
    for number in range(first, first + 4):
        assert f"{number}\t{lines[number - 1]}\n" in text
    assert re.search(r"^ *\d+│ def cleanup_3\(x\):$", text, re.M)  # its neighbours, outlined
    assert "def prepare_0(x):\n    total" not in text


def test_stats_list_only_documents_that_cost_tokens(tmp_path: Path) -> None:
    files = {f"pkg/m{i:02d}.py": filler(f"f{i}", 30) for i in range(20)}
    root = make_repo(tmp_path / "repo", files)
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "pack", str(root),
                                      "--budget", "1500", "--stats", "-o", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    largest = result.stderr.split("Totals", 1)[0]
    assert "│ path " not in largest and "│ full " in largest
