"""`longread serve`: one process that keeps the engine warm and serves a page, a JSON API and MCP.

    ServedCorpus     the corpus, its settings and ONE backend (api.WarmBackend) opened on first
                     use and lent to one request at a time, so vLLM's prefix cache serves later
                     questions, and ONE api.CorpusSource, the corpus read and redacted once for
                     every citation opened; the page, the JSON API and MCP share both
    Guard            ASGI middleware in front of everything, /mcp included: the token (when one
                     is set) on every request, the Host header (when none is: DNS rebinding),
                     and a cap on request bodies (413)
    web_routes       the page, /api/ask, /api/summarize, /api/source, /api/pack (see there)

Safe by default: bound to loopback; any other address needs a token, or the server does not
start. Documents are read through `api.CorpusSource`, which serves corpus documents only.
"""

from __future__ import annotations

import hmac
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from longread.analysis import api
from longread.analysis.config import Settings
from longread.ingest.errors import UsageError
from longread.ingest.progress import Progress, no_progress

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class ServeOptions:
    """What `longread serve` was asked to serve, and where."""

    roots: tuple[Path, ...]
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    budget: int | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


def check_bind(host: str, token: str | None) -> None:
    """Loopback needs nothing; any other address serves the corpus to a network, so a token."""
    if host not in LOOPBACK and not token:
        raise UsageError(f"serving on {host} needs a token: give --token or LONGREAD_SERVE_TOKEN "
                         "(or bind to 127.0.0.1)")


class ServedCorpus:
    """The corpus behind every request; jobs borrow the one warm backend (api.WarmBackend)."""

    def __init__(self, settings: Settings, options: ServeOptions) -> None:
        self.settings, self.options = settings, options
        self.engine = api.WarmBackend(settings)
        self.sources = api.CorpusSource(options.roots, settings=settings, include=options.include,
                                        exclude=options.exclude)
        self._manifest: dict[str, Any] | None = None

    def ask(self, questions: Sequence[str], progress: Progress = no_progress) -> dict[str, Any]:
        """The same JSON as `longread ask --json`."""
        result = self.engine.run(lambda backend: api.ask(
            self.options.roots, list(questions), budget=self.options.budget,
            include=self.options.include, exclude=self.options.exclude,
            settings=self.settings, backend=backend, progress=progress), progress)
        self._manifest = result.pack.manifest.to_json()
        return result.to_json()

    def summarize(self, focus: str | None, progress: Progress = no_progress) -> dict[str, Any]:
        """The same JSON as `longread summarize --json`."""
        result = self.engine.run(lambda backend: api.summarize(
            self.options.roots, focus=focus, budget=self.options.budget,
            include=self.options.include, exclude=self.options.exclude,
            settings=self.settings, backend=backend, progress=progress), progress)
        self._manifest = result.pack.manifest.to_json()
        return result.to_json()

    def manifest(self) -> dict[str, Any]:
        """The manifest of the last pack a job used; before any, the pack a question would get,
        counted with the model's tokenizer (the same for every question unless a --budget makes
        the ranking matter)."""
        if self._manifest is None:
            from longread.analysis.pack_job import read_and_pack

            packed = self.engine.run(lambda backend: read_and_pack(
                self.settings, self.options.roots, counter=backend.tokenizer,
                budget=self.options.budget, line_numbers=True, include=self.options.include,
                exclude=self.options.exclude))
            self._manifest = packed.pack.manifest.to_json()
        return self._manifest

    def source(self, path: str, start: int | None, end: int | None,
               page: int | None) -> dict[str, Any]:
        """Lines of a corpus document as the pack shows them (CorpusSource refuses the rest), at
        most api.MAX_LINES a request; "next" in the reply is where the rest starts."""
        return self.sources.read(path, start, end, page, limit=api.MAX_LINES).to_json()

    def close(self) -> None:
        self.engine.close()


class Guard:
    """Checks every request before the app sees it: token, Host, body size."""

    def __init__(self, app: ASGIApp, *, token: str | None, max_body: int = MAX_BODY_BYTES) -> None:
        self.app, self.token, self.max_body = app, token, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if self.token is not None and not self._authorized(scope, headers):
            await _refuse(scope, send, 401, "a token is needed: Authorization: Bearer or ?token=")
            return
        if self.token is None and not _loopback_host(headers.get("host", "")):
            await _refuse(scope, send, 403, "this server answers to 127.0.0.1 and localhost only")
            return
        body = await _read_body(receive, self.max_body)
        if body is None:
            await _refuse(scope, send, 413, f"request body over {self.max_body} bytes")
            return
        await self.app(scope, _replay(body, receive), send)

    def _authorized(self, scope: Scope, headers: dict[str, str]) -> bool:
        given = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not given:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = (query.get("token") or [""])[0]
        assert self.token is not None
        return hmac.compare_digest(given.encode(), self.token.encode())


def _loopback_host(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.strip("[]") in LOOPBACK


async def _read_body(receive: Receive, cap: int) -> bytes | None:
    """The whole request body, or None past `cap` bytes (bodies here are small JSON)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the buffered body once, then waits on the client (disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    from starlette.responses import JSONResponse

    response = JSONResponse({"error": message}, status_code=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class WebServer:
    """uvicorn serving the app on a socket bound up front: a busy port is one clear error, and
    port 0 (tests) gives a free port whose URL is known before the server runs."""

    def __init__(self, corpus: ServedCorpus) -> None:
        import uvicorn

        from longread.analysis.web_routes import build_app

        options = corpus.options
        check_bind(options.host, options.token)
        self.socket = _listen(options.host, options.port)
        app = Guard(build_app(corpus), token=options.token)
        self.server = uvicorn.Server(uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2))

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

    def run(self) -> None:
        """Serve until Ctrl-C (or `stop`)."""
        self.server.run(sockets=[self.socket])

    def stop(self) -> None:
        self.server.should_exit = True


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
