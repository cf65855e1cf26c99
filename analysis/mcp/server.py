"""`longread mcp`: one corpus served to agents over MCP (the official `mcp` SDK, 2.x).

    pack       (budget, query)            the pack with line numbers, after a manifest summary
    ask        (question, budget)         the answer, then each citation and whether it checks out
    read       (path, start_line, end_line, page, place)
                                          lines of a corpus document as the pack shows them, so an
                                          agent follows `path:N` or `file.pdf#page=N`; anything
                                          that is not a corpus document is refused
                                          (api.CorpusSource: read once, again when a file changes)
    summarize  (focus)                    the summary and its coverage table

`build_server` makes the server for a corpus (an `api.Corpus`, the one door: MCP calls nothing
else); `longread mcp` runs it over stdio, and `longread serve` mounts its streamable-HTTP app at
/mcp, passing a view on its own `api.Corpus` so the page, the JSON API and MCP share one engine
and one read corpus. A job's stages (reading,
packing, engine start, shards) reach the client as progress notifications when it asks for them.
Over stdio (analysis/mcp/stdio.py) every line the SDK cannot read still gets a JSON-RPC error.
The stdio transport keeps stdout for the protocol: the SDK points file descriptor 1 at stderr
while it serves (print, vLLM, C libraries), and logs go to stderr or the log file
(analysis/logs.py).
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from longread.analysis import api
from longread.analysis.config import Settings
from longread.ingest.document import skip_summary
from longread.ingest.errors import LongreadError
from longread.ingest.progress import Progress, no_progress

NAME = "longread"
INSTRUCTIONS = (
    "longread reads one corpus (a repository, a folder of documents and PDFs). `ask` answers "
    "over all of it with citations `path:line`, `file.pdf#page=N` or a place (`report.docx#p=12`, "
    "`README.md#install`), each checked against what the model saw; `read` shows the cited lines "
    "(a place: `place`); `pack` gives the whole corpus fitted to a "
    "token budget, lines numbered; `summarize` covers a document set."
)
# Every tool only reads the corpus (caches aside) and reaches nothing outside it.
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
LISTED_PATHS = 100  # manifest entries named in the pack summary before "and N more"
PROGRESS_EVERY_S = 1.0  # at most one progress notification a second within a stage


class CorpusTools:
    """The tools over one api.Corpus, as text; ask and summarize borrow its warm session in turn."""

    def __init__(self, corpus: api.Corpus) -> None:
        self.corpus = corpus

    def pack(self, budget: int | None = None, query: str | None = None, *,
             progress: Progress = no_progress) -> str:
        """The corpus as one context pack (cl100k tokens), lines numbered so `path:N` can be
        cited; with a budget, documents are ranked by the query and fitted (without one, the
        whole corpus goes in)."""
        packed = self.corpus.pack(budget, query, progress=progress)
        return manifest_summary(packed.manifest) + "\n\n" + packed.text

    def ask(self, question: str, budget: int | None = None, *,
            progress: Progress = no_progress) -> str:
        """Answer a question over the whole corpus; the citations are checked."""
        return answer_text(self.corpus.ask(question, budget=budget, progress=progress))

    def read(self, path: str, start_line: int | None = None, end_line: int | None = None,
             page: int | None = None, place: str | None = None) -> str:
        """Lines of one corpus document (a PDF: one page; or the place a citation names after
        "#": `p=12` of a .docx, `ch=3` of an .epub, `cell=7` of an .ipynb, a heading's anchor of
        a web page or Markdown file), numbered; paths as cited. At most 500 lines a call: the
        first line of the reply says how many there are, and where the next range starts."""
        source = self.corpus.read(path, start_line, end_line, page, place)
        where = f", page {source.page} of {source.pages}" if source.page else ""
        where += f", #{source.place}" if source.place else ""
        more = f" (next: start_line={source.next_start})" if source.next_start else ""
        head = f"{source.path}{where}: lines {source.start}-{source.end} of {source.total}{more}"
        return f"{head}\n{source.to_text()}"

    def summarize(self, focus: str | None = None, *, progress: Progress = no_progress) -> str:
        """A summary of the corpus (optionally with a focus) and which documents it covers."""
        return self.corpus.summarize(focus, progress=progress).to_markdown()

    def close(self) -> None:
        self.corpus.close()


def manifest_summary(manifest: api.Manifest) -> str:
    """What the pack holds in a few lines: totals, then every document not shown in full."""
    budget = f" of a {manifest.budget:,} budget" if manifest.budget else ""
    lines = [f"pack: {manifest.tokens:,} tokens ({manifest.tokenizer}){budget}, "
             f"digest {manifest.digest[:12]}"]
    counts = {fidelity: sum(e.fidelity == fidelity for e in manifest.documents)
              for fidelity in ("full", "outline", "path", "skipped")}
    lines.append("documents: " + ", ".join(f"{n} {fidelity}" for fidelity, n in counts.items()))
    partial = [e for e in manifest.documents if e.fidelity != "full" or e.part is not None]
    for entry in partial[:LISTED_PATHS]:
        detail = entry.reason or ("part" if entry.fidelity == "full" else entry.fidelity)
        lines.append(f"- {entry.path}: {detail}")
    if len(partial) > LISTED_PATHS:
        lines.append(f"- and {len(partial) - LISTED_PATHS} more (see `longread pack --manifest`)")
    reasons = [e.reason or "" for e in manifest.documents if e.fidelity == "skipped"]
    if reasons:
        lines.append(skip_summary(reasons))
    return "\n".join(lines)


def answer_text(result: api.AskResult) -> str:
    """The answer as the model wrote it (cleaned), what cleaning removed or cut, then its
    citations: `ok` ones can be read with `read`."""
    parts = []
    for checked in result.answers:
        parts.append(checked.answer.text.strip())
        if checked.answer.notes:
            parts.append("\n".join(f"longread: {note}" for note in checked.answer.notes))
        if checked.citations:
            parts.append("Citations:\n" + "\n".join(
                f"- {c.raw}: {c.status}" + (f" ({c.detail})" if c.detail else "")
                for c in checked.citations))
    return "\n\n".join(parts)


def build_server(spec: api.CorpusSpec, *, settings: Settings, budget: int | None = None,
                 corpus: api.Corpus | None = None) -> MCPServer:
    """The MCP server of the corpus `spec`; `corpus`, when given, is served instead (`longread
    serve` shares its warm engine and read corpus that way)."""
    tools = CorpusTools(corpus or api.Corpus(spec, settings=settings, budget=budget))
    server: MCPServer = MCPServer(NAME, instructions=INSTRUCTIONS, version=version("longread"))
    for method in (tools.pack, tools.ask, tools.read, tools.summarize):
        # Text only: a structured copy would send every pack twice.
        server.add_tool(_as_tool(method), name=method.__name__, description=method.__doc__,
                        annotations=READ_ONLY, structured_output=False)
    return server


def _as_tool(method: Callable[..., str]) -> Callable[..., Awaitable[str]]:
    """`method` as an MCP tool: its arguments, its progress as the request's progress
    notifications, and a LongreadError as the agent's to read (one line, as the CLI prints it)."""
    signature = inspect.signature(method, eval_str=True)
    reports = "progress" in signature.parameters
    arguments = [p for name, p in signature.parameters.items() if name != "progress"]

    def call(ctx: Context, kwargs: dict[str, Any]) -> str:
        if reports:
            kwargs["progress"] = _progress_to(ctx)
        try:
            return method(**kwargs)
        except LongreadError as exc:
            raise ToolError(str(exc)) from exc

    async def tool(*, ctx: Context, **kwargs: Any) -> str:
        # Counted against a limiter of its own, not anyio's default one (40 threads): asks waiting
        # for the one engine must not use up the threads serve's other requests run on.
        return await anyio.to_thread.run_sync(call, ctx, kwargs, limiter=anyio.CapacityLimiter(1))

    context = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)
    tool.__signature__ = signature.replace(parameters=[*arguments, context])  # type: ignore[attr-defined]
    tool.__annotations__ = {p.name: p.annotation for p in arguments} | {"ctx": Context,
                                                                         "return": str}
    tool.__name__, tool.__doc__ = method.__name__, method.__doc__
    return tool


def _progress_to(ctx: Context) -> Progress:
    """Progress as MCP notifications, sent from the tool's worker thread or any thread it starts
    (vLLM's prefill ticker): each stage's first and last step, at most one a second between; the
    progress count only grows, as MCP asks."""
    loop = anyio.from_thread.run_sync(anyio.lowlevel.current_token)  # reachable from any thread
    lock = threading.Lock()
    sent: list[tuple[str, float]] = []

    def report(stage: str, done: int, total: int | None) -> None:
        with lock:
            now = time.monotonic()
            same = bool(sent) and sent[-1][0] == stage
            if same and done != total and now - sent[-1][1] < PROGRESS_EVERY_S:
                return
            sent.append((stage, now))
            message = f"{stage} {done:,}/{total:,}" if total else stage
            anyio.from_thread.run(ctx.report_progress, len(sent), None, message, token=loop)

    return report


def serve_stdio(spec: api.CorpusSpec, *, settings: Settings,
                budget: int | None = None) -> None:
    """Serve the corpus over stdin/stdout until the client closes them; one engine throughout."""
    from longread.analysis.mcp.stdio import run_stdio

    corpus = api.Corpus(spec, settings=settings, budget=budget)
    try:
        run_stdio(build_server(corpus.spec, settings=settings, corpus=corpus))
    finally:
        corpus.close()
