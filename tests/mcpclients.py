"""The official MCP client against longread's server: over stdio (the real `longread mcp`
subprocess) or in-process (where a scripted backend registered by the test is seen)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult

from longread.analysis.config import Settings
from longread.analysis.mcp.server import build_server
from longread.ingest.corpus_spec import CorpusSpec

LONGREAD = Path(sys.executable).parent / "longread"
Session = Callable[[Client], Awaitable[None]]


def tool_text(result: CallToolResult) -> str:
    """The text blocks of a tool's result, joined."""
    return "".join(getattr(block, "text", "") for block in result.content)


def over_stdio(tmp_path: Path, corpus: Path, session: Session, *flags: str) -> None:
    """Spawn `longread mcp CORPUS` as an MCP client would, and run `session` against it."""
    params = StdioServerParameters(
        command=str(LONGREAD),
        args=["--cache-dir", str(tmp_path / "cache"), "mcp", str(corpus), *flags],
        cwd=str(tmp_path),
    )

    async def main() -> None:
        async with Client(params) as client:
            await session(client)

    anyio.run(main)


def in_process(settings: Settings, corpus: Path, session: Session) -> None:
    """The same server as `longread mcp` in this process, so it sees the test's fakes."""
    server = build_server(CorpusSpec.of([corpus]), settings=settings)

    async def main() -> None:
        async with Client(server) as client:
            await session(client)

    anyio.run(main)
