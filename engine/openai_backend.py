"""The `openai` backend: any OpenAI-compatible server, first of all vLLM's own (`vllm serve`).

The server owns the model; this module owns the wire. Every call goes through `_Wire`, which retries
429s (honouring Retry-After), 5xx, timeouts, dropped connections and malformed bodies with bounded
exponential backoff and jitter, and translates what is left into one `EngineError` line. A batch is
sent concurrently (vLLM batches concurrent requests itself) and returned whole or not at all.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from longread.engine.backend import ChatRequest, Completion, Message
from longread.engine.errors import BackendUnavailable, EngineError, PromptTooLong
from longread.ingest.tokens import TiktokenCounter, TokenCounter

_T = TypeVar("_T")
_R = TypeVar("_R")
_RETRY_STATUS = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))
_WINDOW_RE = re.compile(r"maximum context length is (\d+)")
_PROMPT_RE = re.compile(
    r"(?:contains|requested) (?P<size>(?:at least )?\d+) (?:input )?(?P<unit>tokens|characters)"
)
_MESSAGE_OVERHEAD = 4  # per-message template tokens when the server cannot count for us


class _NotOffered(EngineError):
    """The server has no such endpoint (404/405): the caller falls back."""


class _Retryable(Exception):
    """One failed attempt worth repeating; `delay` is the server's Retry-After when it gave one."""

    def __init__(self, reason: str, *, delay: float | None = None, final: EngineError) -> None:
        super().__init__(reason)
        self.delay = delay
        self.final = final


class _Wire:
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
    ) -> _R:
        """One request with retries; `parse` failing (KeyError, ...) means a malformed answer."""
        for attempt in range(self._max_retries + 1):
            try:
                return _parsed(parse, self._attempt(method, url, payload), url)
            except _Retryable as failure:
                if attempt == self._max_retries:
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
            final = EngineError(f"{url}: the connection broke mid-response ({_first_line(exc)})")
            raise _Retryable(str(exc), final=final) from exc
        _check_status(response, url)
        return _decode(response, url)

    def _unreachable(self, exc: Exception) -> BackendUnavailable:
        text = str(exc).lower()
        reason = "connection refused" if "refused" in text else _first_line(exc)
        return BackendUnavailable(
            f"cannot reach {self.base_url} ({reason}) — is the server running?"
        )


def _check_status(response: httpx.Response, url: str) -> None:
    status = response.status_code
    if status < 400:
        return
    message = _error_message(response)
    if status in _RETRY_STATUS:
        final = EngineError(f"{url} failed with HTTP {status}: {message}")
        raise _Retryable(message, delay=_retry_after(response), final=final)
    if status in (404, 405):
        raise _NotOffered(f"{url}: HTTP {status}")
    if status in (401, 403):
        raise BackendUnavailable(f"{url} refused the API key (HTTP {status}): {message}")
    if "maximum context length" in message:
        raise _prompt_too_long(message)
    raise EngineError(f"{url} rejected the request (HTTP {status}): {message}")


def _decode(response: httpx.Response, url: str) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        final = EngineError(f"{url} sent a malformed response (not JSON: {_first_line(exc)})")
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


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _first_line(response.text or response.reason_phrase)
    error = body.get("error", body) if isinstance(body, dict) else body
    message = error.get("message", error) if isinstance(error, dict) else error
    return _first_line(str(message))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value.strip() else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _prompt_too_long(message: str) -> PromptTooLong:
    window = _WINDOW_RE.search(message)
    prompt = _PROMPT_RE.search(message)
    if window and prompt:
        return PromptTooLong(
            f"prompt has {prompt['size']} {prompt['unit']} but the model's window is "
            f"{window.group(1)} tokens (server: {message})"
        )
    return PromptTooLong(f"prompt does not fit the model's window (server: {message})")


def _first_line(value: object) -> str:
    return (str(value).strip().splitlines() or [type(value).__name__])[0]


def _run_all(fn: Callable[[_T], _R], items: Sequence[_T], workers: int) -> list[_R]:
    """`fn` over `items` on a small pool, in input order; the first failure cancels the rest."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="longread")
    try:
        futures = [pool.submit(fn, item) for item in items]
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _count(body: Mapping[str, Any]) -> int:
    return int(body["count"])


def _wire_messages(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": message.role, "content": message.content} for message in messages]


class ServerTokenCounter:
    """Exact counts from the server's own tokenizer (vLLM's POST /tokenize), memoised per text."""

    def __init__(self, wire: _Wire, root: str, model: str, *, workers: int) -> None:
        self.name = f"server:{model}"
        self._wire = wire
        self._url = f"{root}/tokenize"
        self._model = model
        self._workers = workers
        self._memo: dict[bytes, int] = {}

    def count(self, text: str) -> int:
        return self.count_many([text])[0]

    def count_many(self, texts: Sequence[str]) -> list[int]:
        digests = [
            hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            for text in texts
        ]
        missing = {
            digest: text
            for digest, text in zip(digests, texts, strict=True)
            if digest not in self._memo
        }
        counted = _run_all(self._count_one, list(missing.values()), self._workers)
        self._memo.update(zip(missing, counted, strict=True))
        return [self._memo[digest] for digest in digests]

    def count_messages(self, messages: Sequence[Message]) -> int:
        payload = {
            "model": self._model,
            "messages": _wire_messages(messages),
            "add_generation_prompt": True,
        }
        return self._wire.call("POST", self._url, payload, parse=_count)

    def _count_one(self, text: str) -> int:
        payload = {"model": self._model, "prompt": text, "add_special_tokens": False}
        return self._wire.call("POST", self._url, payload, parse=_count)


class ApproximateCounter:
    """cl100k for a server that cannot tokenize; its name says the counts are approximate."""

    name = "cl100k~approximate"

    def __init__(self) -> None:
        self._inner = TiktokenCounter()

    def count(self, text: str) -> int:
        return self._inner.count(text)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return self._inner.count_many(texts)

    def count_messages(self, messages: Sequence[Message]) -> int:
        counts = self._inner.count_many([message.content for message in messages])
        return sum(counts) + _MESSAGE_OVERHEAD * (len(messages) + 1)


class OpenAIBackend:
    """A `Backend` over HTTP, lazy: no network until a property or a call needs it."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 600.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        concurrency: int = 8,
        context_window: int | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        api_key = (os.environ if environ is None else environ).get(api_key_env) or None
        self._wire = _Wire(
            base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_backoff=max_backoff,
        )
        self._root = self._wire.base_url.removesuffix("/v1")
        self._model = model or None
        self._window = context_window
        self._concurrency = max(1, concurrency)
        self._card: dict[str, Any] | None = None
        self._counter: ServerTokenCounter | ApproximateCounter | None = None

    @property
    def model(self) -> str:
        return self._model or str(self._model_card()["id"])

    @property
    def context_window(self) -> int:
        if self._window:
            return self._window
        window = self._model_card().get("max_model_len")
        if not isinstance(window, int) or window <= 0:
            raise EngineError(
                f"{self._wire.base_url}/models does not report max_model_len for {self.model}; "
                "give the context window explicitly"
            )
        return window

    @property
    def tokenizer(self) -> TokenCounter:
        return self._token_counter()

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        return self._token_counter().count_messages(messages)

    def identity(self) -> dict[str, Any]:
        """Served name, window and weights (root); not the URL: a moved server keeps its cache."""
        card = self._model_card()
        return {
            "backend": "openai",
            "model": self.model,
            "root": card.get("root") or card["id"],
            "max_model_len": card.get("max_model_len"),
        }

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        model = self.model
        return _run_all(lambda request: self._complete(model, request), requests, self._concurrency)

    def close(self) -> None:
        self._wire.close()

    def _complete(self, model: str, request: ChatRequest) -> Completion:
        started = time.perf_counter()
        return self._wire.call(
            "POST",
            f"{self._wire.base_url}/chat/completions",
            _chat_payload(model, request),
            parse=lambda body: _completion(body, time.perf_counter() - started),
        )

    def _model_card(self) -> dict[str, Any]:
        if self._card is None:
            self._card = self._pick_card(self._wire.call("GET", f"{self._wire.base_url}/models"))
        return self._card

    def _pick_card(self, listing: dict[str, Any]) -> dict[str, Any]:
        cards = [
            card for card in listing.get("data") or [] if isinstance(card, dict) and "id" in card
        ]
        names = ", ".join(sorted(str(card["id"]) for card in cards)) or "nothing"
        if self._model is None:
            if len(cards) != 1:
                raise BackendUnavailable(
                    f"{self._wire.base_url} serves {names}; choose one with --model"
                )
            return cards[0]
        for card in cards:
            if card["id"] == self._model:
                return card
        raise BackendUnavailable(
            f"{self._wire.base_url} does not serve {self._model!r} (it serves {names})"
        )

    def _token_counter(self) -> ServerTokenCounter | ApproximateCounter:
        if self._counter is None:
            exact = ServerTokenCounter(
                self._wire, self._root, self.model, workers=self._concurrency
            )
            try:
                exact.count("probe")
                self._counter = exact
            except _NotOffered:
                self._counter = ApproximateCounter()
        return self._counter


def _chat_payload(model: str, request: ChatRequest) -> dict[str, Any]:
    sampling = request.sampling
    payload: dict[str, Any] = {
        "model": model,
        "messages": _wire_messages(request.messages),
        "max_tokens": sampling.max_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "stream": False,
    }
    if sampling.seed is not None:
        payload["seed"] = sampling.seed
    if request.json_schema is not None:
        schema = request.json_schema
        payload["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": str(schema.get("title") or "answer"), "schema": schema},
        }
    return payload


def _completion(body: Mapping[str, Any], seconds: float) -> Completion:
    """Read one chat completion; a body without choices or usage is malformed (KeyError)."""
    choice = body["choices"][0]
    usage = body["usage"]
    details = usage.get("prompt_tokens_details") or {}
    return Completion(
        text=str(choice["message"].get("content") or ""),
        prompt_tokens=int(usage["prompt_tokens"]),
        cached_tokens=int(details.get("cached_tokens") or 0),
        completion_tokens=int(usage["completion_tokens"]),
        seconds=seconds,
        finish_reason=choice.get("finish_reason"),
    )
