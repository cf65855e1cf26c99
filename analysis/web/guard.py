"""The gate of `longread serve`: ASGI middleware every request passes before the app, /mcp included.

    token        when one is set, on every request: `Authorization: Bearer` (any case of the
                 scheme, RFC 7235), or `?token=` on `GET /` only (the page's own URL; the page
                 takes it out of the address bar and sends the header from then on)
    Host         when no token is set, loopback names only (DNS rebinding): Starlette's
                 TrustedHostMiddleware, which answers any other Host with 400
    cross-site   /api/* and /mcp answer only their own origin: a foreign `Origin` or a
                 `Sec-Fetch-Site` other than same-origin/none is 403, and a POST must say
                 `Content-Type: application/json` (415), which no form and no `no-cors` fetch
                 of another page can send without a preflight, which gets 405
    body cap     413 past MAX_BODY_BYTES; 408 when the body has not all come in `body_s` seconds
    headers      on every response, refusals included: the page's Content-Security-Policy,
                 nosniff, no referrer (the page's URL may hold the token)
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import anyio
from starlette.middleware.trustedhost import TrustedHostMiddleware

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK = ("127.0.0.1", "localhost", "::1")  # addresses serve may bind without a token
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")  # the same, as a Host header names them
MAX_BODY_BYTES = 64 * 1024
GUARDED = ("/api/", "/mcp")  # what another site's page must not drive
SAME_SITE = ("same-origin", "none")  # Sec-Fetch-Site values of the page itself, or a typed URL


class Guard:
    """Checks every request before the app sees it, and stamps every response's headers."""

    def __init__(self, app: ASGIApp, *, token: str | None, policy: str, body_s: float,
                 max_body: int = MAX_BODY_BYTES) -> None:
        self.app, self.token, self.max_body, self.body_s = app, token, max_body, body_s
        # without a token only loopback names are answered; a token stands in for that check
        self.entry: ASGIApp = self._checked if token is not None else TrustedHostMiddleware(
            self._checked, allowed_hosts=LOOPBACK_HOSTS, www_redirect=False)
        self.headers = [(b"content-security-policy", policy.encode()),
                        (b"x-content-type-options", b"nosniff"),
                        (b"referrer-policy", b"no-referrer")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._stamped(send)
        if self.token is not None and not self._authorized(scope):
            await _refuse(scope, send, 401,
                          "a token is needed: Authorization: Bearer <token> (the page: /?token=…)")
            return
        await self.entry(scope, receive, send)

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Past the token and Host: the cross-site rules and the body cap, then the app."""
        if scope["path"].startswith(GUARDED):
            refusal = _cross_site(scope, _headers(scope))
            if refusal is not None:
                await _refuse(scope, send, *refusal)
                return
        body: bytes | None = b""
        with anyio.move_on_after(self.body_s) as late:
            body = await _read_body(receive, self.max_body)
        if late.cancelled_caught:
            await _refuse(scope, send, 408, f"the request body took over {self.body_s:g} s")
            return
        if body is None:
            await _refuse(scope, send, 413, f"request body over {self.max_body} bytes")
            return
        await self.app(scope, _replay(body, receive), send)

    def _authorized(self, scope: Scope) -> bool:
        scheme, _, given = _headers(scope).get("authorization", "").strip().partition(" ")
        given = given.strip() if scheme.lower() == "bearer" else ""
        if not given and scope["method"] == "GET" and scope["path"] == "/":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = (query.get("token") or [""])[0]
        assert self.token is not None
        return hmac.compare_digest(given.encode(), self.token.encode())

    def _stamped(self, send: Send) -> Send:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        return stamped


def _cross_site(scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
    """403 for a request another site's page sent; 415 for a POST that is not JSON."""
    site = headers.get("sec-fetch-site")
    origin = headers.get("origin")
    if site is not None and site not in SAME_SITE:
        return 403, f"a request from another site ({site}) is refused"
    if origin is not None and urlsplit(origin).netloc.lower() != headers.get("host", "").lower():
        return 403, "a request from another origin is refused"
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if scope["method"] == "POST" and kind != "application/json":
        return 415, "send the body as JSON, with Content-Type: application/json"
    return None


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


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
