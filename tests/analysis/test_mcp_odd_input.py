"""`longread mcp` over stdio answers every line it cannot read: a tool call holding a lone
surrogate gets an error (the SDK alone drops it, and the client waits forever), a line that is
not JSON gets -32700, a JSON line that is no JSON-RPC message gets -32600; the server serves on.
Through raw pipes, as test_mcp does: the official Python client cannot send a lone surrogate (its
serializer refuses one), but a JavaScript client's JSON.stringify writes one as "\\ud800"."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult

from longread.analysis.config import Settings
from tests.mcpclients import LONGREAD, in_process, tool_text
from tests.trees import write_files

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "test", "version": "0"}}}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_files(root, {"app.py": "def add(a, b):\n    return a + b\n"})
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def _raw_session(tmp_path: Path, corpus: Path, lines: list[str]) -> list[dict[str, Any]]:
    """Initialize over raw pipes, then send `lines` one at a time, reading one reply each."""
    server = subprocess.Popen(
        [str(LONGREAD), "--cache-dir", str(tmp_path / "cache"), "mcp", str(corpus)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=tmp_path,
    )
    assert server.stdin is not None and server.stdout is not None
    replies = []
    watchdog = threading.Timer(60, server.kill)  # a line left unanswered ends the test, not CI
    watchdog.start()
    try:
        for line in [json.dumps(INITIALIZE),
                     json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                     *lines]:
            server.stdin.write(line + "\n")
            server.stdin.flush()
            if "notifications/" not in line:
                reply = server.stdout.readline()
                assert reply, f"no reply to {line[:80]!r}"
                replies.append(json.loads(reply))
    finally:
        watchdog.cancel()
        server.communicate(timeout=60)
    return replies[1:]


@pytest.mark.slow
def test_every_unreadable_line_gets_a_json_rpc_error_and_the_server_serves_on(
    tmp_path: Path, corpus: Path
) -> None:
    read = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
            "params": {"name": "read", "arguments": {"path": "app.py"}}}
    replies = _raw_session(tmp_path, corpus, [
        "this is not JSON",
        '{"jsonrpc": "2.0", "id": 7, "method": "tools/call", '
        '"params": {"name": "read", "arguments": {"path": "\\ud800"}}}',
        '{"jsonrpc": "2.0", "id": 8}',
        "[" * 30_000,
        '{"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": "read", '
        '"arguments": {"path": "app.py", "start_line": ' + "9" * 5000 + "}}}",
        json.dumps({**read, "id": 11, "params": {"name": "read", "arguments": {
            "path": "app.py", "start_line": "\u0661"}}}),  # ١: a digit, not a line number
        json.dumps(read),
    ])
    not_json, surrogate, no_method, nested, digits, arabic, served = replies
    assert not_json["id"] is None and not_json["error"]["code"] == -32700
    assert surrogate["id"] == 7 and surrogate["error"]["code"] == -32700
    assert "lone surrogate (\\ud800" in surrogate["error"]["message"]
    assert no_method["id"] is None and no_method["error"]["code"] == -32600
    assert nested["id"] is None and nested["error"]["code"] == -32700
    assert digits["id"] == 10 and digits["error"]["code"] == -32700
    assert "number out of range" in digits["error"]["message"]
    assert arabic["id"] == 11 and arabic["result"]["isError"] is True
    assert served["id"] == 9 and "app.py: lines 1-2 of 2" in served["result"]["content"][0]["text"]


@pytest.mark.slow
def test_a_lone_surrogate_in_a_tool_call_is_an_error_for_that_call_not_silence(
    tmp_path: Path, corpus: Path
) -> None:
    replies = _raw_session(tmp_path, corpus, [
        '{"jsonrpc": "2.0", "id": 2, "method": "tools/call", '
        '"params": {"name": "ask", "arguments": {"question": "what is \\udfff?"}}}',
        '{"jsonrpc": "2.0", "id": "three", "method": "tools/call", '
        '"params": {"name": "\\ud83d", "arguments": {}}}',
    ])
    assert [reply["id"] for reply in replies] == [2, "three"]  # the client's call ends
    for reply in replies:
        assert reply["error"]["code"] == -32700 and "lone surrogate" in reply["error"]["message"]
        assert "\n" not in reply["error"]["message"]


def test_errors_for_an_agent_name_no_cli_flag(tmp_path: Path, corpus: Path) -> None:
    """The official client against the same server in-process (tests.mcpclients.in_process)."""
    replies: list[CallToolResult] = []

    async def session(client: Client) -> None:
        replies.append(await client.call_tool("ask", {"question": "   "}))
        replies.append(await client.call_tool("pack", {"budget": 0}))

    in_process(Settings(cache_dir=tmp_path / "cache", backend="openai",
                         base_url="http://127.0.0.1:9/v1"), corpus, session)
    blank, no_budget = (tool_text(reply) for reply in replies)
    assert all(reply.is_error for reply in replies)
    assert blank.endswith(": no question given")  # after the SDK's "Error executing tool ask"
    assert no_budget.endswith(": the budget must be a positive number of tokens, not 0")
    assert "--" not in blank + no_budget
