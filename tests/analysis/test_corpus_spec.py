"""The corpus is declared once (ingest/corpus_spec.py): roots and --include/--exclude travel as
one CorpusSpec from the CLI or the API to discovery, through pack, read and the MCP server."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult

from longread.analysis import api  # noqa: E402
from longread.analysis.cli.commands import cli  # noqa: E402
from longread.analysis.config import Settings  # noqa: E402
from longread.ingest.corpus_spec import CorpusSpec  # noqa: E402
from longread.ingest.errors import UsageError  # noqa: E402
from tests.trees import write_files  # noqa: E402

LONGREAD = Path(sys.executable).parent / "longread"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_files(root, {
        "app/store.py": "class NoteStore:\n    pass\n",
        "app/test_store.py": "def test_store():\n    pass\n",
        "docs/guide.md": "# Guide\nInstall it.\n",
    })
    return root


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache")


def _packed(pack: api.Pack) -> list[str]:
    return [entry.path for entry in pack.manifest.documents if entry.fidelity != "skipped"]


def test_a_corpus_spec_packs_the_same_bytes_as_paths_with_globs_beside_them(
    corpus: Path, settings: Settings
) -> None:
    spec = CorpusSpec.of([corpus], include=["app/*"], exclude=["**/test_*"])
    by_spec = api.pack(spec, settings=settings)
    by_paths = api.pack(corpus, include="app/*", exclude=["**/test_*"], settings=settings)
    assert by_spec.data == by_paths.data
    assert _packed(by_spec) == ["app/store.py"]


def test_the_cli_pack_gives_the_api_pack_of_the_same_corpus(
    tmp_path: Path, corpus: Path, settings: Settings
) -> None:
    result = CliRunner().invoke(cli, ["--cache-dir", str(settings.cache_dir), "pack",
                                      str(corpus), "--include", "app/*", "--exclude",
                                      "**/test_*"])
    assert result.exit_code == 0, result.output
    spec = CorpusSpec.of([corpus], include=["app/*"], exclude=["**/test_*"])
    assert result.stdout_bytes == api.pack(spec, settings=settings).data


def test_globs_beside_a_corpus_spec_are_refused(corpus: Path, settings: Settings) -> None:
    with pytest.raises(UsageError, match="in the CorpusSpec, not beside it"):
        api.pack(CorpusSpec.of([corpus]), include=["*.py"], settings=settings)


def test_a_glob_in_a_corpus_spec_is_checked_at_the_door_like_one_beside_paths(
    corpus: Path, settings: Settings
) -> None:
    with pytest.raises(UsageError, match=r"include\[0\] holds a lone surrogate"):
        api.read_source(CorpusSpec.of([corpus], include=["\ud800"]), "app/store.py",
                        settings=settings)


def test_read_source_of_a_spec_refuses_what_its_exclude_leaves_out(
    corpus: Path, settings: Settings
) -> None:
    spec = CorpusSpec.of([corpus], exclude=["docs/*"])
    assert api.read_source(spec, "app/store.py", settings=settings).total == 2
    with pytest.raises(api.NotInCorpus, match="excluded by --exclude"):
        api.read_source(spec, "docs/guide.md", settings=settings)


def _text(result: CallToolResult) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


def test_mcp_include_and_exclude_reach_its_pack_and_read_tools(
    tmp_path: Path, corpus: Path
) -> None:
    """`longread mcp --include app/* --exclude **/test_*` over stdio, as an MCP client runs it."""
    params = StdioServerParameters(
        command=str(LONGREAD), cwd=str(tmp_path),
        args=["--cache-dir", str(tmp_path / "cache"), "mcp", str(corpus), "--include", "app/*",
              "--exclude", "**/test_*"])
    seen: dict[str, str] = {}

    async def main() -> None:
        async with Client(params) as client:
            seen["pack"] = _text(await client.call_tool("pack", {}))
            seen["read"] = _text(await client.call_tool("read", {"path": "app/test_store.py"}))

    anyio.run(main)
    assert re.search(r"^\d+\tclass NoteStore:$", seen["pack"], re.M)
    assert "Install it" not in seen["pack"] and "def test_store" not in seen["pack"]
    assert "excluded by --exclude" in seen["read"]
