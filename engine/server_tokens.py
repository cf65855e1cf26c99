"""Token counts for a model behind a server: exact through `/tokenize`, else cl100k with a margin.

The counter is named before any request (server root + served model; the approximate one under a
name of its own), and the ingest cache records which of the two that name turned out to be, so a
warm run finds its counts without touching the server whichever way the server counts; the first
count that is not cached probes `/tokenize` once and picks the counter for the rest of the run.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from longread.engine.backend import Message
from longread.engine.http import NotOffered, Wire, run_all
from longread.ingest.tokens import TiktokenCounter

# cl100k x this when the server cannot count. Measured on this repository's code and docs,
# SmolLM2's 49k-vocabulary tokenizer gives 1.13-1.17x the cl100k count; large-vocabulary models
# (Llama 3/4, 128k-202k) give fewer. A pack sized with the margin stays inside the window.
APPROXIMATE_MARGIN = 1.25
_MESSAGE_OVERHEAD = 4  # per-message template tokens when the server cannot count for us


def counter_name(root: str, model: str) -> str:
    """Names the tokenizer by where it lives: one server's model never shares another's counts."""
    return f"server:{root.rstrip('/')}#{model}"


def _count(body: Mapping[str, Any]) -> int:
    return int(body["count"])


def wire_messages(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": message.role, "content": message.content} for message in messages]


class ServerTokenCounter:
    """Exact counts from the server's own tokenizer (vLLM's POST /tokenize), memoised per text."""

    def __init__(self, wire: Wire, root: str, model: str, *, workers: int) -> None:
        self.name = counter_name(root, model)
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
        counted = run_all(self._count_one, list(missing.values()), self._workers)
        self._memo.update(zip(missing, counted, strict=True))
        return [self._memo[digest] for digest in digests]

    def count_messages(self, messages: Sequence[Message]) -> int:
        payload = {
            "model": self._model,
            "messages": wire_messages(messages),
            "add_generation_prompt": True,
        }
        return self._wire.call("POST", self._url, payload, parse=_count)

    def _count_one(self, text: str) -> int:
        payload = {"model": self._model, "prompt": text, "add_special_tokens": False}
        return self._wire.call("POST", self._url, payload, parse=_count)


class ApproximateCounter:
    """cl100k times APPROXIMATE_MARGIN, for a server without /tokenize (OpenAI, Ollama, ...)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._inner = TiktokenCounter()

    def count(self, text: str) -> int:
        return math.ceil(self._inner.count(text) * APPROXIMATE_MARGIN)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [math.ceil(n * APPROXIMATE_MARGIN) for n in self._inner.count_many(texts)]

    def count_messages(self, messages: Sequence[Message]) -> int:
        counts = self.count_many([message.content for message in messages])
        return sum(counts) + _MESSAGE_OVERHEAD * (len(messages) + 1)


def probe_counter(
    wire: Wire, root: str, model: str, *, workers: int, notice: Callable[[str], None]
) -> ServerTokenCounter | ApproximateCounter:
    """The exact counter when the server tokenizes as vLLM does; else the approximate one, said
    once (llama.cpp's /tokenize answers another shape, Ollama and OpenAI have none)."""
    exact = ServerTokenCounter(wire, root, model, workers=workers)
    payload = {"model": model, "prompt": "probe", "add_special_tokens": False}
    try:
        offered = "count" in wire.call("POST", f"{root}/tokenize", payload)
    except NotOffered:
        offered = False
    if offered:
        return exact
    margin = round((APPROXIMATE_MARGIN - 1) * 100)
    notice(f"{root} has no vLLM /tokenize: counting with cl100k + {margin}% margin (approximate)")
    # Its own name: the token-count cache must never file these as the server's exact counts.
    return ApproximateCounter(f"approx-cl100k*{APPROXIMATE_MARGIN}:{exact.name}")
