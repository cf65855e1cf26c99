"""The one interface every engine backend satisfies, and the registry that names them.

A backend is a tokenizer, a context window and one batched call: requests in, completions out in
the same order (vLLM's own shape). Everything else — prompts, sharding, caching — lives above it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from longread.ingest.tokens import TokenCounter

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class SamplingSettings:
    """Everything about sampling that changes an answer (part of the answer-cache key)."""

    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[Message, ...]
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    json_schema: dict[str, Any] | None = None  # structured output (vLLM guided decoding)


@dataclass(frozen=True)
class Completion:
    """One answer with its usage: prompt tokens, how many came from the prefix cache, timings."""

    text: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    seconds: float
    finish_reason: str | None = None


class Backend(Protocol):
    """What the engine needs of a model: count, fit, generate."""

    @property
    def model(self) -> str: ...

    @property
    def context_window(self) -> int: ...

    @property
    def tokenizer(self) -> TokenCounter: ...

    @property
    def concurrency(self) -> int:
        """Requests to keep in flight, each its own `generate` call from a thread (a server);
        1: batches from the caller's thread only (an in-process engine, not thread-safe)."""
        ...

    @property
    def special_tokens(self) -> frozenset[str]:
        """The served tokenizer's special tokens (chat-template markers), removed from output."""
        ...

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Exact prompt length with the chat template applied."""
        ...

    def identity(self) -> dict[str, Any]:
        """Every backend setting that can change an answer (model, dtype, quantization, ...)."""
        ...

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        """One blocking batch; completions come back in request order."""
        ...

    def close(self) -> None: ...


BackendFactory = Callable[..., Backend]


def _vllm(**options: Any) -> Backend:
    from longread.engine.vllm_backend import VllmBackend  # heavy: imports vllm and torch

    return VllmBackend(**options)


def _openai(**options: Any) -> Backend:
    from longread.engine.openai_backend import OpenAIBackend

    return OpenAIBackend(**options)


# name -> factory. Test fakes add themselves from tests/; nothing fake ships in the package.
BACKENDS: dict[str, BackendFactory] = {"vllm": _vllm, "openai": _openai}
