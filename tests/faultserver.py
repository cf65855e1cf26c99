"""A scripted HTTP server on 127.0.0.1 for testing clients at the wire: delays, errors, cut bodies.

Each (method, path) has a queue of replies, used in order; the last one repeats. A reply may be a
callable of the request's JSON, so concurrent requests can be answered by content. Everything is
bounded: delays are capped and the server stops when its `with` block ends.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.httpthread import ThreadedServer

MAX_DELAY = 10.0


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # a dict/list is sent as JSON, a str/bytes as is
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)
    cut: bool = False  # announce the full length, send half of the body, close the connection

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body if self.body is not None else {}).encode()


Responder = Reply | Callable[[Any], Reply]


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: Mapping[str, str]
    body: Any


class FaultServer(ThreadedServer):
    """`with FaultServer() as server: server.script("POST", "/v1/models", Reply(500), ...)`."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], list[Responder]] = {}
        self._lock = threading.Lock()
        self.seen: list[Seen] = []
        super().__init__(_handler_for(self))

    @property
    def url(self) -> str:
        return f"{self.root}/v1"

    def script(self, method: str, path: str, *replies: Responder) -> None:
        with self._lock:
            self._routes[(method, path)] = list(replies)

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.path == path]

    def _answer(self, method: str, path: str, headers: Mapping[str, str], raw: bytes) -> Reply:
        body = _json_or_text(raw)
        with self._lock:
            self.seen.append(Seen(method, path, dict(headers), body))
            queue = self._routes.get((method, path))
            if not queue:
                return Reply(404, {"error": {"message": f"no route {method} {path}"}})
            responder = queue.pop(0) if len(queue) > 1 else queue[0]
        return responder(body) if callable(responder) else responder


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


def _handler_for(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = MAX_DELAY * 2

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            reply = server._answer(method, self.path, dict(self.headers.items()), raw)
            time.sleep(min(reply.delay, MAX_DELAY))
            payload = reply.payload()
            try:
                self._send(reply, payload)
            except OSError:
                self.close_connection = True

        def _send(self, reply: Reply, payload: bytes) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2] if reply.cut else payload)
            self.wfile.flush()
            self.close_connection = reply.cut

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test asserts on `server.seen`, not on logs."""

    return Handler
