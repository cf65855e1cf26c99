"""A deterministic fake Backend for unit tests of the logic around the engine (never shipped).

Tokens are 4 characters each; a map prompt answers with its fence nonce when the shard holds the
question's last word (else NOT IN THIS PART); a reduce prompt counts the mentions it merges; a
one-pass prompt names the word, cites line 1 of the first document and a missing file.
A repeated system message counts as a prefix-cache hit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from longread.engine.backend import BACKENDS, ChatRequest, Completion, Message
from longread.engine.prompt import NOT_IN_PART
from longread.ingest.document import Document, Section

_TEMPLATE_TOKENS = 4  # per message, like a chat template's role markers


class CharCounter:
    name = "fake-chars"

    def count(self, text: str) -> int:
        return math.ceil(len(text) / 4)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [self.count(text) for text in texts]


class Crash(RuntimeError):
    """What a FakeBackend raises once its request budget (`fail_after`) is spent."""


class FakeBackend:
    def __init__(self, *, context_window: int = 8192, fail_after: int | None = None) -> None:
        self.context_window = context_window
        self.fail_after = fail_after
        self.tokenizer = CharCounter()
        self.model = "fake-model"
        self.concurrency = 1  # batches from one thread, as the in-process engine
        self.special_tokens: frozenset[str] = frozenset({"<|fake_end|>"})
        self.requests: list[ChatRequest] = []
        self.generate_calls = 0
        self._seen_prefixes: set[str] = set()

    def identity(self) -> dict[str, Any]:
        return {"backend": "fake", "model": self.model}

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        return sum(self.tokenizer.count(m.content) + _TEMPLATE_TOKENS for m in messages)

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        self.generate_calls += 1
        if self.fail_after is not None and len(self.requests) + len(requests) > self.fail_after:
            raise Crash(f"fake backend stopped after {len(self.requests)} requests")
        self.requests.extend(requests)
        return [self._complete(request) for request in requests]

    def close(self) -> None:
        self.closed = True

    def _complete(self, request: ChatRequest) -> Completion:
        system, question = request.messages[0].content, request.messages[-1].content
        prompt = self.count_prompt_tokens(request.messages)
        cached = self.tokenizer.count(system) if system in self._seen_prefixes else 0
        self._seen_prefixes.add(system)
        text = _reply(system, question)
        return Completion(text, prompt, cached, self.tokenizer.count(text), 0.01, "stop")


def _reply(system: str, question: str) -> str:
    word = question.rstrip("?. ").split()[-1].lower()
    if system.startswith("You see one part"):
        nonce, corpus = re.search(r"<<<CORPUS (\w+)>>>\n(.*)", system, re.S).groups()
        return f"Part {nonce} mentions {word}." if word in corpus.lower() else NOT_IN_PART
    if system.startswith("Partial answers"):
        merged = re.findall(r"Merged (\d+) mentions", system)
        total = sum(map(int, merged)) + len(re.findall(r"Part \w+ mentions", system))
        return f"Merged {total} mentions of {word}."
    cited = re.search(r'<document id="([^"]+)"', system)
    source = f" in `{cited.group(1)}:1`" if cited else ""
    return f"Answer about {word}{source}; see also `nowhere/missing.py:3`."


class RecordingBackend:
    """Wraps a real backend: records its requests, can crash on the n-th call, never closes it."""

    def __init__(self, inner: Any, *, crash_on_call: int | None = None) -> None:
        self.inner, self.crash_on_call = inner, crash_on_call
        self.requests: list[ChatRequest] = []
        self.calls = 0

    model = property(lambda self: self.inner.model)
    context_window = property(lambda self: self.inner.context_window)
    tokenizer = property(lambda self: self.inner.tokenizer)
    concurrency = property(lambda self: self.inner.concurrency)
    special_tokens = property(lambda self: self.inner.special_tokens)

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        return self.inner.count_prompt_tokens(messages)

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        self.calls += 1
        if self.calls == self.crash_on_call:
            raise Crash(f"stopped on call {self.calls}")
        self.requests.extend(requests)
        return self.inner.generate(requests)

    def close(self) -> None:
        """The wrapped engine is shared by the whole test session."""

    def map_requests(self) -> int:
        return sum(r.messages[0].content.startswith("You see one part") for r in self.requests)


class Borrowed:
    """The session's shared engine, lent to one CLI run: the job's close() must not stop it."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def close(self) -> None:
        return None


def register_fake(monkeypatch: pytest.MonkeyPatch) -> list[FakeBackend]:
    """Registers "fake" in the real registry; the list collects every FakeBackend it builds."""
    built: list[FakeBackend] = []

    def factory(**options: Any) -> FakeBackend:
        backend = FakeBackend(**{k: v for k, v in options.items() if k in ("context_window",)})
        built.append(backend)
        return backend

    monkeypatch.setitem(BACKENDS, "fake", factory)
    return built


class ScriptedBackend(FakeBackend):
    """A FakeBackend whose every answer is `reply(system prompt)`: a test writes what the model
    says, and can look at what the pack showed it."""

    def __init__(self, reply: Callable[[str], str], **options: Any) -> None:
        super().__init__(**options)
        self.reply = reply

    def _complete(self, request: ChatRequest) -> Completion:
        text = self.reply(request.messages[0].content)
        prompt = self.count_prompt_tokens(request.messages)
        return Completion(text, prompt, 0, self.tokenizer.count(text), 0.01, "stop")


def register_scripted(
    monkeypatch: pytest.MonkeyPatch, reply: Callable[[str], str], name: str = "scripted"
) -> list[ScriptedBackend]:
    """Registers `name` as a ScriptedBackend answering with `reply`; the list collects each one."""
    built: list[ScriptedBackend] = []

    def factory(**options: Any) -> ScriptedBackend:
        window = {k: v for k, v in options.items() if k in ("context_window",)}
        built.append(ScriptedBackend(reply, **window))
        return built[-1]

    monkeypatch.setitem(BACKENDS, name, factory)
    return built


def code_documents(files: int, *, lines: int = 60, marked: Sequence[int] = ()) -> list[Document]:
    """Python modules m00.py, m01.py, ...; the `marked` ones define ZEBRA on line 31."""
    documents = []
    for i in range(files):
        body = [
            f"def scale_{i}_{j}(value):\n    return value * {j} + {i}" for j in range(lines // 2)
        ]
        text = "\n".join(body)
        if i in marked:
            text = text.replace(f"def scale_{i}_15(value):", "ZEBRA = 'the mascot lives here'", 1)
        documents.append(
            Document(
                f"src/m{i:02}.py", "code", f"sha{i}", len(text), (Section(text),), language="python"
            )
        )
    return documents


def hub_snapshot(cache: Path, repo_id: str, files: dict[str, str]) -> Path:
    """A Hugging Face cache entry laid out as `huggingface_hub` reads it (refs/main -> snapshot)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    for name, text in files.items():
        (snapshot / name).write_text(text)
    return snapshot
