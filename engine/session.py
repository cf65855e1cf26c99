"""THE backend session: one per CLI run, one for the life of `serve` or `mcp`.

Every job keys the answer cache with the session's identity, computed once (from settings, with
no engine and no weights), and reaches the model through it. The engine itself opens on the first
call that needs it (a count, a window, a generation: a cache miss), so a run whose answers are all
cached never starts vLLM. Closing the session closes the engine; a later call opens a fresh one,
the identity kept (a server whose engine died opens a new session instead: a restarted server may
serve another model, see api.WarmBackend).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from longread.engine.backend import Backend, ChatRequest, Completion, Message
from longread.ingest.tokens import TokenCounter


class Session:
    """A Backend whose engine is built by `opener` on first real use; model, identity and
    tokenizer, when given, are known up front (they key the cache and size the pack)."""

    def __init__(
        self,
        opener: Callable[[], Backend],
        *,
        identify: Callable[[], dict[str, Any]],
        model: str | None = None,
        tokenizer: TokenCounter | None = None,
        concurrency: int | None = None,
    ) -> None:
        self._opener, self._identify = opener, identify
        self._model, self._tokenizer, self._concurrency = model, tokenizer, concurrency
        self._identity: dict[str, Any] | None = None
        self._engine: Backend | None = None
        self._lock = threading.Lock()  # a server's fan-out threads may all ask for the engine

    @property
    def started(self) -> bool:
        return self._engine is not None

    @property
    def engine(self) -> Backend:
        with self._lock:
            if self._engine is None:
                self._engine = self._opener()
            return self._engine

    def identity(self) -> dict[str, Any]:
        """What names this model's answers, worked out on first use and then kept."""
        if self._identity is None:
            self._identity = dict(self._identify())
        return dict(self._identity)

    @property
    def model(self) -> str:
        """Given, else the identity's (a server's model is asked once), else the engine's."""
        if self._model is not None:
            return self._model
        return str(self.identity().get("model") or self.engine.model)

    @property
    def tokenizer(self) -> TokenCounter:
        return self._tokenizer if self._tokenizer is not None else self.engine.tokenizer

    @property
    def concurrency(self) -> int:
        return self._concurrency if self._concurrency is not None else self.engine.concurrency

    @property
    def context_window(self) -> int:
        return self.engine.context_window

    @property
    def special_tokens(self) -> frozenset[str]:
        return self.engine.special_tokens

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        return self.engine.count_prompt_tokens(messages)

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        return self.engine.generate(requests)

    def close(self) -> None:
        """Stops the engine if it runs; the session stays usable (the next call opens one)."""
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()


@contextmanager
def borrowed(backend: Backend | None, open_session: Callable[[], Backend]) -> Iterator[Backend]:
    """`backend` lent to one job and left open (a server keeps it warm), or else a session of
    the job's own, closed when the job ends."""
    if backend is not None:
        yield backend
        return
    session = open_session()
    try:
        yield session
    finally:
        session.close()
