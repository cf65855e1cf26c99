"""`longread mcp`'s stdio transport: the SDK's, plus a reply to every line it cannot read.

The SDK (mcp 2.x) hands a line it cannot parse or validate to the server as an exception, and
the server logs it and answers nothing: a client whose request holds a lone surrogate
("\\ud800", which the SDK's JSON parser refuses) waits forever, and a line that is not JSON gets
no -32700. Here each such line gets a JSON-RPC error: -32700 (not JSON, or not Unicode text)
or -32600 (JSON but not a JSON-RPC message), with the request's id when the line has one, so
the client's call ends with an error instead of a hang.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError
from pydantic import ValidationError

from longread.analysis.arguments import unicode_text
from longread.ingest.errors import UsageError

Item = SessionMessage | Exception


def run_stdio(server: MCPServer) -> None:
    """What `server.run("stdio")` does, with every unreadable line answered."""
    anyio.run(_serve, server)


async def _serve(server: MCPServer) -> None:
    lowlevel = server._lowlevel_server  # noqa: SLF001 - the SDK's own Client reaches it so too
    async with stdio_server() as (read_stream, write_stream):
        await lowlevel.run(_Answering(read_stream, write_stream), write_stream,
                           lowlevel.create_initialization_options())


class _Answering:
    """The transport's read stream with each exception item answered on the write stream and
    left out, so the server sees messages only."""

    def __init__(self, inner: ReadStream[Item], out: WriteStream[SessionMessage]) -> None:
        self.inner, self.out = inner, out

    @property
    def last_context(self) -> Any:  # the sender's context, which the dispatcher restores
        return getattr(self.inner, "last_context", None)

    async def receive(self) -> Item:
        while isinstance(item := await self.inner.receive(), Exception):
            await self.out.send(SessionMessage(reply_to_unreadable(item)))
        return item

    async def __anext__(self) -> Item:
        while isinstance(item := await self.inner.__anext__(), Exception):
            await self.out.send(SessionMessage(reply_to_unreadable(item)))
        return item

    def __aiter__(self) -> _Answering:
        return self

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def __aenter__(self) -> _Answering:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc_val: BaseException | None, exc_tb: TracebackType | None) -> None:
        await self.aclose()


def reply_to_unreadable(exc: Exception) -> JSONRPCError:
    """The JSON-RPC error for a line the SDK refused (`exc` is its ValidationError: its input is
    the line when the JSON was unreadable, the parsed JSON when only the message's shape was
    wrong). The request's id is recovered with Python's parser where it can read the line."""
    first: dict[str, Any] = dict(exc.errors()[0]) if isinstance(exc, ValidationError) else {}
    raw = first.get("input")
    data = _lenient_json(raw) if isinstance(raw, str) else raw
    request_id = _request_id(data)
    if isinstance(raw, dict | list):  # JSON, but not a JSON-RPC message
        return _error(request_id, INVALID_REQUEST, "Invalid request: not a JSON-RPC 2.0 message")
    try:
        unicode_text(json.dumps(data, ensure_ascii=False), "the message")
    except UsageError as problem:  # what the SDK calls "unexpected end of hex escape"
        return _error(request_id, PARSE_ERROR, f"Parse error: {problem}")
    except (ValueError, RecursionError):
        pass
    said = str(first.get("msg") or "not JSON").removeprefix("Invalid JSON: ")
    return _error(request_id, PARSE_ERROR, f"Parse error: {said}")


def _lenient_json(line: str) -> Any:
    """The line as Python's parser reads it (lone surrogates and all; a number too long for
    int() read as None), or None."""
    try:
        return json.loads(line, parse_int=lambda digits: int(digits) if len(digits) < 4000
                          else None)
    except (ValueError, RecursionError):
        return None


def _request_id(data: Any) -> int | str | None:
    """The id of a request (a reply to a response or a notification would answer nothing)."""
    if not isinstance(data, dict) or "method" not in data:
        return None
    found = data.get("id")
    return found if isinstance(found, int | str) and not isinstance(found, bool) else None


def _error(request_id: int | str | None, code: int, message: str) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=message))
