"""The `openai` backend: any OpenAI-compatible server, first of all vLLM's own (`vllm serve`).

The server owns the model; this module owns the requests (the retrying transport is
`engine/http.py`, the token counters `engine/server_tokens.py`). Nothing here touches the network
until a completion, a count or a missing model name or window needs it, so an answer-cache hit is
served while the server is down. A batch is sent concurrently (vLLM batches concurrent requests
itself) and returned whole or not at all.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from longread.engine.backend import ChatRequest, Completion, Message
from longread.engine.errors import EngineError
from longread.engine.http import Wire, run_all
from longread.engine.server_tokens import (
    ApproximateCounter,
    ServerTokenCounter,
    counter_name,
    probe_counter,
    wire_messages,
)
from longread.ingest.errors import UsageError
from longread.ingest.tokens import LazyCounter, TokenCounter


def _quiet(line: str) -> None:
    """The default notice: the engine never prints; the CLI passes a printer."""


def server_identity(base_url: str, model: str, context_window: int | None) -> dict[str, Any]:
    """What names a server's answers without asking it: where, which model, the window if given."""
    identity: dict[str, Any] = {"backend": "openai", "url": base_url.rstrip("/"), "model": model}
    if context_window:
        identity["context_window"] = context_window
    return identity


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
        notice: Callable[[str], None] = _quiet,
    ) -> None:
        api_key = (os.environ if environ is None else environ).get(api_key_env) or None
        self._wire = Wire(
            base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_backoff=max_backoff,
        )
        self._root = self._wire.base_url.removesuffix("/v1")
        self._model = model or None
        self._window = context_window or None
        self._concurrency = max(1, concurrency)
        self._card: dict[str, Any] | None = None
        self._counter: LazyCounter | None = None
        self._exact: ServerTokenCounter | ApproximateCounter | None = None
        self._notice = notice

    @property
    def model(self) -> str:
        return self._model or str(self._model_card()["id"])

    @property
    def concurrency(self) -> int:
        return self._concurrency

    @property
    def context_window(self) -> int:
        if self._window:
            return self._window
        window = self._model_card().get("max_model_len")
        if not isinstance(window, int) or window <= 0:
            missing = (f"{self._wire.base_url}/models does not report a context window for "
                       f"{self.model}")
            raise EngineError(
                f"{missing}; give it with the context-window setting",
                cli=f"{missing}; give it with --context-window N (or LONGREAD_CONTEXT_WINDOW)")
        return window

    @property
    def tokenizer(self) -> TokenCounter:
        """Named before any request; the server is asked only for a count no cache holds."""
        if self._counter is None:
            name = counter_name(self._root, self.model)
            self._counter = LazyCounter(name, self._token_counter, adopt_loaded_name=True)
        return self._counter

    @property
    def special_tokens(self) -> frozenset[str]:
        """A server does not list its tokenizer's special tokens: the cleaner's known list
        (engine/cleanup.py) covers the common chat templates."""
        return frozenset()

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        return self._token_counter().count_messages(messages)

    def identity(self) -> dict[str, Any]:
        return server_identity(self._wire.base_url, self.model, self._window)

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        model = self.model
        return run_all(lambda request: self._complete(model, request), requests, self._concurrency)

    def close(self) -> None:
        """Closes the connection pool; a run answered from the cache never opened one."""
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
                served = f"{self._wire.base_url} serves {names}"
                raise UsageError(f"{served}; choose one with the model setting",
                                 cli=f"{served}; choose one with --model")
            return cards[0]
        for card in cards:
            if card["id"] == self._model:
                return card
        served = f"{self._wire.base_url} does not serve {self._model!r} (it serves {names})"
        raise UsageError(served)

    def _token_counter(self) -> ServerTokenCounter | ApproximateCounter:
        if self._exact is None:
            self._exact = probe_counter(
                self._wire, self._root, self.model, workers=self._concurrency,
                notice=self._notice,
            )
        return self._exact


def _chat_payload(model: str, request: ChatRequest) -> dict[str, Any]:
    sampling = request.sampling
    payload: dict[str, Any] = {
        "model": model,
        "messages": wire_messages(request.messages),
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
