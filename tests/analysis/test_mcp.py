"""`longread mcp` through the official SDK's client: the real stdio subprocess for pack and read,
the same server in-process for ask and summarize (a subprocess cannot see a fake backend)."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mcp import Client
from mcp.types import CallToolResult

from longread.analysis import api
from longread.analysis.cli.commands import cli
from longread.analysis.config import Settings
from longread.engine.backend import ChatRequest, Completion
from longread.ingest.progress import Progress
from tests.fakes import ScriptedBackend, register_scripted
from tests.faultserver import FaultServer, Reply
from tests.mcpclients import LONGREAD, in_process, over_stdio, tool_text
from tests.pdfs import pdf_bytes
from tests.trees import write_files

OUTSIDE = "OUTSIDE-SECRET-CONTENT"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A git repository with code, a PDF, a secrets file, and a symlink to a file outside it."""
    root = tmp_path / "repo"
    write_files(root, {
        "app/store.py": "import sqlite3\n\n\nclass NoteStore:\n    def add(self, text):\n"
                        "        return text.strip()\n",
        "README.md": "# Notes\nA tiny notes app.\n",
        "docs/guide.pdf": pdf_bytes(["Welcome", "Install with pip, then run notes"]),
        ".env": f"TOKEN={OUTSIDE}\n",
    })
    (tmp_path / "outside.txt").write_text(f"{OUTSIDE}\n")
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "."], check=True)
    return root


@pytest.mark.slow
def test_stdio_pack_then_read_follows_a_citation(tmp_path: Path, corpus: Path) -> None:
    seen: dict[str, Any] = {}

    async def session(client: Client) -> None:
        seen["tools"] = sorted(tool.name for tool in (await client.list_tools()).tools)
        seen["pack"] = tool_text(await client.call_tool("pack", {}))
        line = re.search(r"^(\d+)\tclass NoteStore:$", seen["pack"], re.M)
        assert line, seen["pack"]
        seen["read"] = await client.call_tool(
            "read", {"path": "app/store.py", "start_line": int(line[1]), "end_line": 5})
        seen["page"] = tool_text(await client.call_tool(
            "read", {"path": "docs/guide.pdf", "page": 2}))

    over_stdio(tmp_path, corpus, session)
    assert seen["tools"] == ["ask", "pack", "read", "summarize"]
    assert seen["pack"].startswith("pack: ") and "- link.txt: symlink to outside" in seen["pack"]
    assert not seen["read"].is_error
    assert tool_text(seen["read"]).splitlines()[1:] == ["4\tclass NoteStore:",
                                                    "5\t    def add(self, text):"]
    assert "page 2 of 2" in seen["page"] and "Install with pip" in seen["page"]


def _served_model(server: FaultServer) -> None:
    """An OpenAI-compatible server faked at the wire: a window, token counts, one answer."""
    answer = ('`NoteStore.add` strips the text (`app/store.py:6` "return text.strip()"); '
              "see also `app/store.py:99`.")
    server.script("GET", "/v1/models",
                  Reply(200, {"object": "list", "data": [{"id": "m", "max_model_len": 8192}]}))
    server.script("POST", "/tokenize", lambda body: Reply(200, {"count": 100}))
    server.script("POST", "/v1/chat/completions", Reply(200, {
        "choices": [{"message": {"content": answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20},
    }))


@pytest.mark.slow
def test_stdio_ask_then_read_the_cited_lines(tmp_path: Path, corpus: Path) -> None:
    replies: list[str] = []

    async def session(client: Client) -> None:
        replies.append(tool_text(await client.call_tool("ask", {"question": "What does add do?"})))
        cited = re.search(r"^- (\S+):(\d+): ok$", replies[0], re.M)
        assert cited, replies[0]
        replies.append(tool_text(await client.call_tool("read", {
            "path": cited[1], "start_line": int(cited[2]), "end_line": int(cited[2])})))

    with FaultServer() as server:
        _served_model(server)
        over_stdio(tmp_path, corpus, session, "--backend", "openai", "--base-url", server.url,
                    "--model", "m")
        asked = server.requests_to("/v1/chat/completions")
    assert replies[0].startswith("`NoteStore.add` strips the text")
    assert "- app/store.py:99: out-of-range" in replies[0]
    assert replies[1].endswith("6\t        return text.strip()\n") and len(asked) == 1
    assert "class NoteStore" in json.dumps(asked[0].body)


@pytest.mark.slow
def test_stdio_read_outside_the_corpus_gets_nothing_of_it(tmp_path: Path, corpus: Path) -> None:
    replies: dict[str, CallToolResult] = {}
    asked = ["../outside.txt", "../../../../../../etc/passwd", str(tmp_path / "outside.txt"),
             "/etc/passwd", "link.txt", ".env", "app/../../outside.txt"]

    async def session(client: Client) -> None:
        for path in asked:
            replies[path] = await client.call_tool("read", {"path": path})

    over_stdio(tmp_path, corpus, session)
    for path, reply in replies.items():
        assert reply.is_error, path
        assert OUTSIDE not in tool_text(reply) and "root:" not in tool_text(reply), path
    assert "symlink to outside the root" in tool_text(replies["link.txt"])


@pytest.mark.slow
def test_stdout_carries_only_the_protocol_with_verbose_logs(tmp_path: Path, corpus: Path) -> None:
    """Raw JSON-RPC over the pipes: every stdout line is a message, the logs went to stderr."""
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "test", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "read", "arguments": {"path": "../outside.txt"}}},
    ]
    server = subprocess.Popen(
        [str(LONGREAD), "-v", "--cache-dir", str(tmp_path / "cache"), "mcp", str(corpus)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=tmp_path,
    )
    assert server.stdin is not None and server.stdout is not None
    replies = []
    for message in messages:  # one at a time: the reply before the next request, as clients do
        server.stdin.write(json.dumps(message) + "\n")
        server.stdin.flush()
        if "id" in message:
            replies.append(json.loads(server.stdout.readline()))
    rest, stderr = server.communicate(timeout=120)
    assert [reply.get("id") for reply in replies] == [1, 2] and rest == ""
    assert replies[1]["result"]["isError"] is True
    assert "not a document of the corpus" in stderr


def _reply(system: str) -> str:
    """The scripted model: one citation that checks out, one past the end of the file."""
    assert "class NoteStore" in system
    return ('`NoteStore.add` strips the text (`app/store.py:6` "return text.strip()"); '
            "see also `app/store.py:99`.")


@pytest.mark.slow
def test_ask_answers_with_checked_citations_on_one_warm_backend(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[ScriptedBackend] = register_scripted(monkeypatch, _reply)
    settings = Settings(cache_dir=tmp_path / "cache", backend="scripted")
    answers: list[str] = []

    async def session(client: Client) -> None:
        for question in ("What does NoteStore.add do?", "And what does it return?"):
            answers.append(tool_text(await client.call_tool("ask", {"question": question})))
        reply = await client.call_tool("read", {"path": "app/store.py", "start_line": 6,
                                                "end_line": 6})
        answers.append(tool_text(reply))

    in_process(settings, corpus, session)
    assert answers[0].startswith("`NoteStore.add` strips the text")
    assert "- app/store.py:6: ok" in answers[0]
    assert re.search(r"- app/store.py:99: out-of-range", answers[0])
    assert len(built) == 1 and len(built[0].requests) == 2
    assert answers[2].endswith("6\t        return text.strip()\n")


@pytest.mark.slow
def test_ask_reports_its_stages_as_progress_notifications(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, _reply)
    settings = Settings(cache_dir=tmp_path / "cache", backend="scripted")
    notes: list[tuple[float, str | None]] = []

    async def noted(progress: float, _total: float | None, message: str | None) -> None:
        notes.append((progress, message))

    async def session(client: Client) -> None:
        await client.call_tool("ask", {"question": "What does add do?"}, progress_callback=noted)

    in_process(settings, corpus, session)
    counts = [progress for progress, _ in notes]
    assert counts == sorted(set(counts)) and len(counts) >= 2
    assert any(message and message.startswith("reading") for _, message in notes)


@pytest.mark.slow
def test_progress_from_a_thread_the_backend_starts_reaches_the_client(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors: list[BaseException] = []

    class TickingBackend(ScriptedBackend):
        """Reports progress from a plain thread, as vLLM's prefill ticker does."""

        def __init__(self, progress: Progress) -> None:
            super().__init__(_reply)
            self.progress = progress

        def _complete(self, request: ChatRequest) -> Completion:
            def tick() -> None:
                try:
                    self.progress("prefill", 1, 1)
                except BaseException as exc:  # noqa: BLE001 - the test reports it
                    errors.append(exc)

            ticker = threading.Thread(target=tick)
            ticker.start()
            ticker.join()
            return super()._complete(request)

    monkeypatch.setattr(api, "open_backend", lambda _settings, progress: TickingBackend(progress))
    settings = Settings(cache_dir=tmp_path / "cache", backend="scripted")
    notes: list[str | None] = []

    async def noted(_progress: float, _total: float | None, message: str | None) -> None:
        notes.append(message)

    async def session(client: Client) -> None:
        await client.call_tool("ask", {"question": "What does add do?"}, progress_callback=noted)

    in_process(settings, corpus, session)
    assert errors == [] and "prefill 1/1" in notes


def test_ask_with_a_budget_too_small_is_one_line_for_the_agent(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, _reply)
    settings = Settings(cache_dir=tmp_path / "cache", backend="scripted")
    replies: list[CallToolResult] = []

    async def session(client: Client) -> None:
        replies.append(await client.call_tool("ask", {"question": "What?", "budget": -5}))

    in_process(settings, corpus, session)
    assert replies[0].is_error and "the budget must be a positive number" in tool_text(replies[0])
    assert "--" not in tool_text(replies[0])  # an agent has no flags


@pytest.mark.slow
def test_summarize_gives_the_summary_and_its_coverage(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, _reply)
    settings = Settings(cache_dir=tmp_path / "cache", backend="scripted")
    replies: list[str] = []

    async def session(client: Client) -> None:
        replies.append(tool_text(await client.call_tool("summarize", {"focus": "storage"})))

    in_process(settings, corpus, session)
    assert "## Coverage" in replies[0] and "| `app/store.py` | cited |" in replies[0]
    assert "| `README.md` | not cited |" in replies[0]


def test_read_gives_at_most_500_lines_a_call_and_where_the_next_range_starts(
    tmp_path: Path, corpus: Path
) -> None:
    (corpus / "long.txt").write_text("".join(f"line {n}\n" for n in range(1, 1201)))
    replies: list[str] = []

    async def session(client: Client) -> None:
        replies.append(tool_text(await client.call_tool("read", {"path": "long.txt"})))
        replies.append(tool_text(await client.call_tool("read", {"path": "long.txt",
                                                              "start_line": 1000})))
        replies.append(tool_text(await client.call_tool("read", {"path": "long.txt",
                                                              "start_line": 1, "end_line": 1200})))

    in_process(Settings(cache_dir=tmp_path / "cache"), corpus, session)
    first, rest, asked_all = (reply.splitlines() for reply in replies)
    assert first[0] == "long.txt: lines 1-500 of 1200 (next: start_line=501)"
    assert first[-1] == "500\tline 500" and len(first) == 501
    assert rest[0] == "long.txt: lines 1000-1200 of 1200" and len(rest) == 202
    assert asked_all == first  # an explicit end_line is capped too (sources.MAX_LINES)


def test_mcp_on_a_missing_path_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["mcp", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "does not exist" in result.output
    assert len(result.output.strip().splitlines()) == 1
