"""The routes of `longread serve` (server.py holds the served corpus, the guard and the server).

    GET  /                 the page (analysis/web/: HTML with its CSS and JS inlined, so one URL
                           with ?token= loads everything)
    POST /api/ask          {"question": ...} or {"questions": [...]} -> the JSON of `ask --json`
    POST /api/summarize    {"focus": ...} (optional) -> the JSON of `summarize --json`
    GET  /api/source       ?path=P&start=A&end=B, &page=N or &place=F -> lines of a corpus document,
                           at most 500 a request ("next": where the rest starts)
    GET  /api/pack         the manifest of the pack
    /mcp                   the MCP tools over streamable HTTP (analysis/mcp/server.py)

A POST with `Accept: text/event-stream` gets server-sent events instead: `progress` while the job
runs (reading, packing, engine start, shards), then one `result` (or `error`). The backends return
whole completions, so an answer arrives whole; what streams is the progress before it.

Jobs for the engine (asks, summaries, the first manifest) take a place in the corpus's JobQueue
(limits.py): 429 with Retry-After when it is full; a job whose client leaves before its turn
never runs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager, suppress
from functools import cache
from importlib.resources import files
from typing import Any

import anyio.to_thread
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from longread.analysis.api import NotInCorpus
from longread.analysis.arguments import unicode_text
from longread.analysis.web.limits import Busy, QueuedEngine, Ticket
from longread.analysis.web.server import ServedCorpus
from longread.ingest.errors import LongreadError, UsageError
from longread.ingest.lines import MAX_DIGITS, line_number
from longread.ingest.progress import Progress

_log = logging.getLogger(__name__)
Job = Callable[[Progress], dict[str, Any]]
_STATUS = {2: 400, 3: 422, 4: 502, 5: 500}  # exit code -> HTTP status
INTERNAL_ERROR = "internal error (see the server's log)"
SSE_SEP = "\n"  # the page's reader (app.js) splits frames on a blank line of "\n\n"


def build_app(corpus: ServedCorpus) -> Starlette:
    """The page, the JSON API and MCP in one Starlette app (the guard wraps it in server.py)."""
    mcp_app = _mcp_app(corpus)
    routes: list[BaseRoute] = [
        Route("/", _page, methods=["GET"]),
        Route("/api/ask", _endpoint(corpus, _ask_job), methods=["POST"]),
        Route("/api/summarize", _endpoint(corpus, _summarize_job), methods=["POST"]),
        Route("/api/source", _source(corpus), methods=["GET"]),
        Route("/api/pack", _pack(corpus), methods=["GET"]),
        *mcp_app.routes,
    ]

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            async with mcp_app.router.lifespan_context(mcp_app):
                yield
        finally:
            await anyio.to_thread.run_sync(corpus.close)

    return Starlette(routes=routes, lifespan=lifespan)


def _mcp_app(corpus: ServedCorpus) -> Starlette:
    from longread.analysis.mcp.server import build_server

    options = corpus.options
    server = build_server(options.corpus, settings=corpus.settings,
                          corpus=corpus.corpus.sharing(QueuedEngine(corpus.corpus.engine,
                                                                    corpus.jobs)))
    limits = options.limits
    return server.streamable_http_app(streamable_http_path="/mcp", host=options.host,
                                      max_sessions=limits.mcp_sessions,
                                      session_idle_timeout=limits.mcp_idle_s)


async def _page(_request: Request) -> Response:
    return HTMLResponse(_page_html())


@cache
def _page_html() -> str:
    html = _page_file("index.html")
    for name in ("style.css", "app.js"):
        html = html.replace("{{" + name + "}}", _page_file(name))
    return html


@cache
def page_policy() -> str:
    """The Content-Security-Policy of every response: the page's own inlined style and script
    (by hash) and nothing else; requests to this server only; no framing by another page."""
    style, script = (_sha256(_page_file(name)) for name in ("style.css", "app.js"))
    return (f"default-src 'self'; script-src '{script}'; style-src '{style}'; "
            "connect-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")


def _page_file(name: str) -> str:
    return (files("longread.analysis") / "web" / name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _ask_job(corpus: ServedCorpus, body: dict[str, Any]) -> Job:
    question, questions = body.get("question"), body.get("questions")
    if isinstance(question, str) and question.strip():
        asked = [question]
    elif isinstance(questions, list) and questions and all(isinstance(q, str) for q in questions):
        asked = questions
    else:
        raise UsageError('give {"question": "..."} or {"questions": ["...", ...]}')
    cap = corpus.options.limits.questions
    if len(asked) > cap:
        raise UsageError(f'at most {cap} questions in one request ("questions" has '
                         f"{len(asked)}): send the rest in another request")
    return lambda progress: corpus.ask(asked, progress)


def _summarize_job(corpus: ServedCorpus, body: dict[str, Any]) -> Job:
    focus = body.get("focus")
    if focus is not None and not isinstance(focus, str):
        raise UsageError('"focus" is a string')
    return lambda progress: corpus.summarize(focus or None, progress)


def _endpoint(corpus: ServedCorpus,
              make_job: Callable[[ServedCorpus, dict[str, Any]], Job]) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        try:
            body = _json_body(await request.body())
            if not isinstance(body, dict):
                raise UsageError("the request body is a JSON object")
            job = make_job(corpus, body)
            ticket = corpus.jobs.admit()
        except json.JSONDecodeError as exc:
            return _error(UsageError(f"the request body is not JSON: {exc}"))
        except LongreadError as exc:
            return _error(exc)
        if "text/event-stream" in request.headers.get("accept", ""):
            return _EventStream(job, ticket)
        return await _outcome(job, ticket, request.receive)

    return endpoint


async def _outcome(job: Job, ticket: Ticket, receive: Receive) -> Response:
    """The job's result as JSON, its progress ignored (a plain request waits for the result);
    the client leaving is heard while it waits, so a job still queued is dropped."""
    outcome: tuple[str, Any] = ("error", UsageError("the client left"))  # read by no one
    async with anyio.create_task_group() as waiting:
        waiting.start_soon(_cancel_on_disconnect, receive, waiting.cancel_scope)
        async with aclosing(_run(job, ticket)) as updates:
            async for update in updates:  # the last one is the outcome
                outcome = update
        waiting.cancel_scope.cancel()
    event, data = outcome
    if event == "result":
        return JSONResponse(data)
    return _error(data) if data else JSONResponse({"error": INTERNAL_ERROR}, status_code=500)


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


class _EventStream(EventSourceResponse):
    """The job as server-sent events (sse-starlette: framing, keep-alive comments every 15 s,
    the client's leaving heard); the client leaving at any point, even before the stream
    starts, gives up the job's place unless it is running already."""

    def __init__(self, job: Job, ticket: Ticket) -> None:
        super().__init__(_events(job, ticket), sep=SSE_SEP, headers={"Cache-Control": "no-store"})
        self.ticket = ticket

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.ticket.abandon()


async def _events(job: Job, ticket: Ticket) -> AsyncIterator[ServerSentEvent]:
    """The job's progress and its outcome as server-sent events."""
    async with aclosing(_run(job, ticket)) as updates:
        async for event, data in updates:
            if event == "error":
                data = {"error": str(data), "exit_code": data.exit_code} if data else \
                    {"error": INTERNAL_ERROR}
            yield ServerSentEvent(json.dumps(data, ensure_ascii=False), event=event, sep=SSE_SEP)


async def _run(job: Job, ticket: Ticket) -> AsyncGenerator[tuple[str, Any], None]:
    """Runs `job` in a thread of its own once its ticket's turn comes; yields ("progress",
    {...})..., then ("result", json) or ("error", LongreadError | None). Waiting for the turn
    holds no thread: anyio's pool, which serves /api/source and MCP's tools, stays free. When the
    client leaves before the turn, the job is dropped; after, updates stop, and the job, which
    cannot be stopped midway, finishes alone (its answer still reaches the cache) and only then
    gives the turn to the next one."""
    loop = asyncio.get_running_loop()
    updates: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    gone = threading.Event()

    def post(event: str, data: Any) -> None:
        if not gone.is_set():
            with suppress(RuntimeError):  # the loop has closed: the server stopped
                loop.call_soon_threadsafe(updates.put_nowait, (event, data))

    def progress(stage: str, done: int, total: int | None) -> None:
        post("progress", {"stage": stage, "done": done, "total": total})

    def work() -> None:
        try:
            post("result", job(progress))
        except LongreadError as exc:
            post("error", exc)
        except Exception:
            _log.exception("a served job failed")
            post("error", None)
        finally:
            with suppress(RuntimeError):
                loop.call_soon_threadsafe(ticket.finish)

    try:
        await ticket.turn()
        ticket.start()
        threading.Thread(target=work, daemon=True, name="longread-job").start()
        while (update := await updates.get())[0] == "progress":
            yield update
        yield update
    finally:
        gone.set()
        ticket.abandon()


def _source(corpus: ServedCorpus) -> Callable[..., Any]:
    async def source(request: Request) -> Response:
        query = request.query_params
        try:
            start, end, page = (_number(name, query.get(name)) for name in ("start", "end", "page"))
            path, place = query.get("path") or "", query.get("place")
            lines = await anyio.to_thread.run_sync(corpus.source, path, start, end, page, place)
        except LongreadError as exc:
            return _error(exc)
        return JSONResponse(lines)

    return source


def _pack(corpus: ServedCorpus) -> Callable[..., Any]:
    async def pack(request: Request) -> Response:
        if corpus.manifest_known:
            return JSONResponse(corpus.manifest())
        try:
            ticket = corpus.jobs.admit()  # the first manifest is counted on the engine
        except Busy as exc:
            return _error(exc)
        return await _outcome(lambda _progress: corpus.manifest(), ticket, request.receive)

    return pack


def _number(name: str, value: str | None) -> int | None:
    """An ASCII line or page number: not `١٢` (which int() reads as 12), not 5,000 digits
    (which int() refuses with a ValueError)."""
    if value is None or value == "":
        return None
    number = line_number(value)
    if number is None:
        shown = value if len(value) <= 20 else value[:20] + "..."
        raise UsageError(f"{name}={shown!r} is not a line or page number "
                         f"(digits 0-9, at most {MAX_DIGITS})")
    return number


def _json_body(raw: bytes) -> Any:
    """The body as JSON (json.JSONDecodeError for text that is not JSON); a UsageError, so a
    400, for what json.loads would let through as a 500: bytes that are not UTF-8, nesting
    deeper than the parser recurses, a number of 5,000 digits, a lone surrogate."""
    try:
        body = json.loads(raw.decode("utf-8") or "{}")
        unicode_text(json.dumps(body, ensure_ascii=False), "the request body")
    except UnicodeDecodeError as exc:
        raise UsageError(f"the request body is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise UsageError("the request body nests too deep") from None
    except ValueError as exc:  # an int of over 4,300 digits (int()'s limit since Python 3.11)
        raise UsageError(f"the request body cannot be read: {str(exc).split(':')[0]}") from None
    return body


def _error(exc: LongreadError) -> JSONResponse:
    if isinstance(exc, Busy):
        return JSONResponse({"error": str(exc)}, status_code=429,
                            headers={"Retry-After": str(exc.retry_after)})
    status = 404 if isinstance(exc, NotInCorpus) else _STATUS.get(exc.exit_code, 500)
    return JSONResponse({"error": str(exc), "exit_code": exc.exit_code}, status_code=status)
