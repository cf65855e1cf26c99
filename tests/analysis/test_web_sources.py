"""`longread serve` opens citations from the corpus as it read and redacted it once: /api/source and
MCP `read` share it, and a changed, added or removed file is seen at the next request (a real
server on 127.0.0.1 in a thread of this process, over a real git work tree)."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest

from longread.analysis.jobs import pack as pack_job
from tests.fakes import register_scripted
from tests.webserver import APP, make_corpus, scripted_reply, serving

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per time the corpus is read and redacted (the one pipeline, counted)."""
    register_scripted(monkeypatch, scripted_reply)
    counted: list[int] = []
    read_documents = pack_job.read_documents

    def counting(*args: object, **kwargs: object) -> pack_job.RedactedCorpus:
        counted.append(1)
        return read_documents(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pack_job, "read_documents", counting)
    return counted


def _source(url: str, path: str, **lines: int) -> httpx.Response:
    return httpx.get(url + "api/source", params={"path": path, **lines}, timeout=30)


async def _mcp_read(url: str, path: str) -> str:
    from mcp import Client

    async with Client(url + "mcp") as client:
        result = await client.call_tool("read", {"path": path, "start_line": 3, "end_line": 4})
    return "\n".join(getattr(part, "text", "") for part in result.content)


@pytest.mark.slow
def test_citations_are_read_from_one_read_of_the_corpus_until_a_file_changes(
    tmp_path: Path, reads: list[int]
) -> None:
    corpus = make_corpus(tmp_path)
    with serving(tmp_path, corpus) as url:
        first = _source(url, "app.py", start=3, end=4)
        guide = _source(url, "docs/guide.md", start=1, end=1)
        by_mcp = anyio.run(_mcp_read, url, "app.py")
        assert len(reads) == 1  # three citations opened, the corpus read once

        (corpus / "app.py").write_text(APP + f'AWS_SECRET_ACCESS_KEY = "{SECRET}"\n')
        changed = _source(url, "app.py")
        again = _source(url, "app.py")
        assert len(reads) == 2  # the change was seen, once

        (corpus / "new.py").write_text("def added():\n    return 1\n")
        added = _source(url, "new.py")
        (corpus / "README.md").unlink()
        removed = _source(url, "README.md")
        assert len(reads) == 4
    assert first.json()["lines"] == APP.split("\n")[2:4] and guide.json()["lines"] == ["# Guide"]
    assert "def save(note):" in by_mcp
    assert changed.status_code == 200 and changed.json()["total"] == 6
    assert SECRET not in changed.text and "AWS_SECRET_ACCESS_KEY" in changed.json()["lines"][5]
    assert again.json() == changed.json()
    assert added.json()["lines"] == ["def added():", "    return 1"]
    assert removed.status_code == 404 and "not a document of the corpus" in removed.text
