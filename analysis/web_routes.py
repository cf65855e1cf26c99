"""The routes of `longread serve` (web.py holds the served corpus, the guard and the server).

    GET  /                 the page (analysis/web/: HTML with its CSS and JS inlined, so one URL
                           with ?token= loads everything)
    POST /api/ask          {"question": ...} or {"questions": [...]} -> the JSON of `ask --json`
    POST /api/summarize    {"focus": ...} (optional) -> the JSON of `summarize --json`
    GET  /api/source       ?path=P&start=A&end=B or ?path=P&page=N -> lines of a corpus document
    GET  /api/pack         the manifest of the pack
    /mcp                   the MCP tools over streamable HTTP (analysis/mcp_server.py)

A POST with `Accept: text/event-stream` gets server-sent events instead: `progress` while the job
runs (reading, packing, engine start, shards), then one `result` (or `error`). The backends return
whole completions, so an answer arrives whole; what streams is the progress before it.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import cache
from importlib.resources import files
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from longread.analysis.api import NotInCorpus
from longread.analysis.web import ServedCorpus
from longread.ingest.errors import LongreadError, UsageError
from longread.ingest.progress import Progress

_log = logging.getLogger(__name__)
Job = Callable[[Progress], dict[str, Any]]
_STATUS = {2: 400, 3: 422, 4: 502, 5: 500}  # exit code -> HTTP status


def build_app(corpus: ServedCorpus) -> Starlette:
    """The page, the JSON API and MCP in one Starlette app (the guard wraps it in web.py)."""
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
    from longread.analysis.mcp_server import build_server

    options = corpus.options
    server = build_server(options.roots, settings=corpus.settings, budget=options.budget,
                          include=options.include, exclude=options.exclude,
                          backend_source=corpus.engine)
    return server.streamable_http_app(streamable_http_path="/mcp", host=options.host)


async def _page(_request: Request) -> Response:
    return HTMLResponse(_page_html())


@cache
def _page_html() -> str:
    web = files("longread.analysis") / "web"
    html = (web / "index.html").read_text(encoding="utf-8")
    for name in ("style.css", "app.js"):
        html = html.replace("{{" + name + "}}", (web / name).read_text(encoding="utf-8"))
    return html


def _ask_job(corpus: ServedCorpus, body: dict[str, Any]) -> Job:
    question, questions = body.get("question"), body.get("questions")
    if isinstance(question, str) and question.strip():
        asked = [question]
    elif isinstance(questions, list) and questions and all(isinstance(q, str) for q in questions):
        asked = questions
    else:
        raise UsageError('give {"question": "..."} or {"questions": ["...", ...]}')
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
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise UsageError("the request body is a JSON object")
            job = make_job(corpus, body)
        except json.JSONDecodeError as exc:
            return _error(UsageError(f"the request body is not JSON: {exc}"))
        except LongreadError as exc:
            return _error(exc)
        if "text/event-stream" in request.headers.get("accept", ""):
            return StreamingResponse(_events(job), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-store"})
        try:
            return JSONResponse(await anyio.to_thread.run_sync(job, _ignore))
        except LongreadError as exc:
            return _error(exc)

    return endpoint


def _ignore(_stage: str, _done: int, _total: int | None) -> None:
    """No one to tell: a plain JSON request waits for its result."""


async def _events(job: Job) -> AsyncIterator[str]:
    """Run `job` in a thread; its progress and its result as server-sent events."""
    events: queue.Queue[tuple[str, Any] | None] = queue.Queue()

    def progress(stage: str, done: int, total: int | None) -> None:
        events.put(("progress", {"stage": stage, "done": done, "total": total}))

    def work() -> None:
        try:
            events.put(("result", job(progress)))
        except LongreadError as exc:
            events.put(("error", {"error": str(exc), "exit_code": exc.exit_code}))
        except Exception:
            _log.exception("a served job failed")
            events.put(("error", {"error": "internal error (see the server's log)"}))
        finally:
            events.put(None)

    threading.Thread(target=work, daemon=True).start()
    while (item := await anyio.to_thread.run_sync(events.get)) is not None:
        event, data = item
        yield f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _source(corpus: ServedCorpus) -> Callable[..., Any]:
    async def source(request: Request) -> Response:
        query = request.query_params
        try:
            start, end, page = (_number(query.get(name)) for name in ("start", "end", "page"))
            path = query.get("path") or ""
            lines = await anyio.to_thread.run_sync(corpus.source, path, start, end, page)
        except LongreadError as exc:
            return _error(exc)
        return JSONResponse(lines)

    return source


def _pack(corpus: ServedCorpus) -> Callable[..., Any]:
    async def pack(_request: Request) -> Response:
        try:
            return JSONResponse(await anyio.to_thread.run_sync(corpus.manifest))
        except LongreadError as exc:
            return _error(exc)

    return pack


def _number(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdecimal():
        raise UsageError(f"{value!r} is not a line or page number")
    return int(value)


def _error(exc: LongreadError) -> JSONResponse:
    status = 404 if isinstance(exc, NotInCorpus) else _STATUS.get(exc.exit_code, 500)
    return JSONResponse({"error": str(exc), "exit_code": exc.exit_code}, status_code=status)
