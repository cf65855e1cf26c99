"""JSON over HTTP for the server backends: bounded retries, one clear line for what is left.

`Wire.call` retries 429 (honouring Retry-After), the 5xx a restart or overload causes, timeouts,
dropped connections and malformed bodies, with exponential backoff and jitter. An endpoint the
server does not have (404, 405, 501) is `NotOffered` at once, so the caller can fall back; an HTML
error page is cut down to its title, so every failure stays one `EngineError` line.
"""

from __future__ import annotations

import email.utils
import html
import json
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from longread.engine.errors import BackendUnavailable, EngineError, PromptTooLong, first_line

_T = TypeVar("_T")
_R = TypeVar("_R")
_NOT_OFFERED = frozenset({404, 405, 501})
_RETRY_STATUS = frozenset({408, 409, 425, 429}) | (frozenset(range(500, 600)) - _NOT_OFFERED)
_WINDOW_RE = re.compile(r"maximum context length is (\d+)")
_PROMPT_RE = re.compile(
    r"(?:contains|requested) (?P<size>(?:at least )?\d+) (?:input )?(?P<unit>tokens|characters)"
)
_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_TAG_RE = re.compile(r"<[^>]+>")
MAX_MESSAGE = 200  # characters of a server's error text kept in our one line


class NotOffered(EngineError):
    """The server has no such endpoint (404/405/501): the caller falls back, nothing is retried."""


class _Retryable(Exception):
    """One failed attempt worth repeating; `delay` is the server's Retry-After when it gave one."""

    def __init__(self, reason: str, *, delay: float | None = None, final: EngineError) -> None:
        super().__init__(reason)
        self.delay = delay
        self.final = final


class Wire:
    """JSON over HTTP with bounded retries; the API key lives only in the client's headers."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout: float,
        max_retries: int,
        backoff: float,
        max_backoff: float,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff = backoff
        self._max_backoff = max_backoff

    def close(self) -> None:
        self._client.close()

    def call(
        self,
        method: str,
        url: str,
        payload: Mapping[str, Any] | None = None,
        parse: Callable[[dict[str, Any]], _R] = dict,  # type: ignore[assignment]
        *,
        retries: int | None = None,
    ) -> _R:
        """One request with retries; `parse` failing (KeyError, ...) means a malformed answer."""
        attempts = self._max_retries if retries is None else retries
        for attempt in range(attempts + 1):
            try:
                return _parsed(parse, self._attempt(method, url, payload), url)
            except _Retryable as failure:
                if attempt == attempts:
                    raise failure.final from failure
                time.sleep(self._delay(attempt, failure.delay))
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, server_delay: float | None) -> float:
        if server_delay is not None:
            return min(server_delay, self._max_backoff)
        ceiling = min(self._backoff * 2**attempt, self._max_backoff)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _attempt(self, method: str, url: str, payload: Mapping[str, Any] | None) -> dict[str, Any]:
        try:
            response = self._client.request(method, url, json=payload)
        except httpx.ConnectError as exc:
            raise _Retryable(str(exc), final=self._unreachable(exc)) from exc
        except httpx.TimeoutException as exc:
            final = EngineError(f"{url} did not answer within {self._timeout:g} s (timed out)")
            raise _Retryable(str(exc), final=final) from exc
        except httpx.TransportError as exc:
            final = EngineError(f"{url}: the connection broke mid-response ({first_line(exc)})")
            raise _Retryable(str(exc), final=final) from exc
        _check_status(response, url)
        return _decode(response, url)

    def _unreachable(self, exc: Exception) -> BackendUnavailable:
        text = str(exc).lower()
        reason = "connection refused" if "refused" in text else first_line(exc)
        return BackendUnavailable(
            f"cannot reach {self.base_url} ({reason}) — is the server running?"
        )


def _check_status(response: httpx.Response, url: str) -> None:
    status = response.status_code
    if status < 400:
        return
    message = error_message(response)
    if status in _NOT_OFFERED:
        raise NotOffered(f"{url}: HTTP {status}: {message}")
    if status in _RETRY_STATUS:
        final = EngineError(f"{url} failed with HTTP {status}: {message}")
        raise _Retryable(message, delay=_retry_after(response), final=final)
    if status in (401, 403):
        raise BackendUnavailable(f"{url} refused the API key (HTTP {status}): {message}")
    if "maximum context length" in message:
        raise _prompt_too_long(message)
    raise EngineError(f"{url} rejected the request (HTTP {status}): {message}")


def _decode(response: httpx.Response, url: str) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        final = EngineError(f"{url} sent a malformed response (not JSON: {first_line(exc)})")
        raise _Retryable("malformed JSON", final=final) from exc
    if not isinstance(body, dict):
        final = EngineError(f"{url} sent a malformed response (not a JSON object)")
        raise _Retryable("not an object", final=final)
    return body


def _parsed(parse: Callable[[dict[str, Any]], _R], body: dict[str, Any], url: str) -> _R:
    try:
        return parse(body)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        final = EngineError(f"{url} sent a malformed response (missing or bad field: {exc!r})")
        raise _Retryable("malformed body", final=final) from exc


def error_message(response: httpx.Response) -> str:
    """The server's own words in one short line: the JSON error message, or an HTML page's title."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _short(_plain_text(response.text) or response.reason_phrase)
    error = body.get("error", body) if isinstance(body, dict) else body
    message = error.get("message", error) if isinstance(error, dict) else error
    return _short(str(message))


def _plain_text(text: str) -> str:
    """An HTML page's title (else its text without tags); any other text as it is."""
    if "<" not in text[:200]:
        return text
    title = _TITLE_RE.search(text)
    found = title.group(1) if title else _TAG_RE.sub(" ", text)
    return html.unescape(" ".join(found.split()))


def _short(text: str) -> str:
    line = first_line(text)
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):  # a junk header is no hint: the normal backoff applies
        return None
    return max(0.0, parsed.timestamp() - time.time())


def _prompt_too_long(message: str) -> PromptTooLong:
    window = _WINDOW_RE.search(message)
    prompt = _PROMPT_RE.search(message)
    if window and prompt:
        return PromptTooLong(
            f"prompt has {prompt['size']} {prompt['unit']} but the model's window is "
            f"{window.group(1)} tokens (server: {message})"
        )
    return PromptTooLong(f"prompt does not fit the model's window (server: {message})")


def run_all(fn: Callable[[_T], _R], items: Sequence[_T], workers: int) -> list[_R]:
    """`fn` over `items` on a small pool, in input order; the first failure cancels the rest."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="longread")
    try:
        futures = [pool.submit(fn, item) for item in items]
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
