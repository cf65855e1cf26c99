from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from longread.analysis.cli.commands import cli
from longread.ingest.tokens import TiktokenCounter
from tests.pdfs import pdf_bytes

COUNTER = TiktokenCounter()


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "README.md").write_text("# Notes app\nStores notes.\n")
    (root / ".gitignore").write_text("build/\n")
    (root / "build").mkdir()
    (root / "build" / "out.py").write_text("GENERATED = True\n")
    for name in ("storage", "views", "forms", "urls", "models", "admin"):
        body = "".join(f"def {name}_{n}(x):\n    return x * {n}\n\n" for n in range(60))
        (root / "src" / f"{name}.py").write_text(body)
    (root / "src" / "search.py").write_text(
        "def find_note(index, title):\n    '''Look up a note by its title.'''\n"
        "    return index.get(title)\n"
    )
    (root / "docs" / "report.pdf").write_bytes(pdf_bytes(["Quarterly report", "Revenue grew"]))
    (root / "docs" / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a pdf at all\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    return root


def run(tmp_path: Path, *args: str):
    runner = CliRunner()
    return runner.invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "pack", *args])


def test_pack_to_stdout_with_manifest_agreeing_with_a_recount(repo, tmp_path):
    manifest_file = tmp_path / "manifest.json"
    result = run(tmp_path, str(repo), "--manifest", str(manifest_file))
    assert result.exit_code == 0, result.output
    manifest = json.loads(manifest_file.read_text())
    assert manifest["tokens"] == COUNTER.count(result.stdout)
    assert manifest["budget"] is None and manifest["tokenizer"] == "cl100k"
    by_path = {entry["path"]: entry for entry in manifest["documents"]}
    assert "build/out.py" not in by_path and "GENERATED" not in result.stdout
    assert by_path["src/search.py"]["fidelity"] == "full"
    assert by_path["docs/report.pdf"]["pages"] == 2
    assert '<page id="docs/report.pdf#page=2">' in result.stdout and "Revenue grew" in result.stdout
    assert (
        by_path["docs/broken.pdf"]["fidelity"] == "skipped" and by_path["docs/broken.pdf"]["reason"]
    )


def test_budget_and_query_choose_fidelities_and_output_is_deterministic(repo, tmp_path):
    output = tmp_path / "pack.xml"
    args = [str(repo), "--budget", "1500", "--query", "find a note by title", "-o", str(output)]
    result = run(tmp_path, *args, "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    text = output.read_text(encoding="utf-8")
    assert manifest["tokens"] == COUNTER.count(text) <= 1500
    assert manifest["tokens"] >= 0.98 * 1500
    fidelity = {entry["path"]: entry["fidelity"] for entry in manifest["documents"]}
    assert fidelity["src/search.py"] == "full"
    assert {"outline", "path"} & set(fidelity.values())
    again = run(tmp_path, *args, "--json")
    assert json.loads(again.stdout)["digest"] == manifest["digest"]
    assert output.read_text(encoding="utf-8") == text


def test_formats_line_numbers_and_stats(repo, tmp_path):
    result = run(tmp_path, str(repo / "src"), "--format", "markdown", "--line-numbers", "--stats")
    assert result.exit_code == 0, result.output
    assert "## search.py (full)\n```python\n1\tdef find_note(index, title):\n" in result.stdout
    assert "Largest" in result.stderr and "Totals" in result.stderr


def test_include_and_exclude(repo, tmp_path):
    result = run(
        tmp_path, str(repo), "--include", "src/*.py", "--exclude", "src/views.py", "--json"
    )
    entries = {entry["path"]: entry for entry in json.loads(result.stdout)["documents"]}
    assert entries["src/search.py"]["fidelity"] == "full" and "README.md" not in entries
    assert (
        entries["src/views.py"]["fidelity"] == "skipped"
        and "exclude" in entries["src/views.py"]["reason"]
    )


def test_a_path_that_does_not_exist_is_one_clear_line(tmp_path):
    result = run(tmp_path, str(tmp_path / "nowhere"))
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines() == [
        f"longread: error: no such file or directory: {tmp_path / 'nowhere'}"
    ]
