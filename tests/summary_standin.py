"""A 1,000-document set and a stand-in OpenAI-compatible server for the summary-cost measure.

The corpus: small Markdown notes and small text PDFs (tests/pdfs.py), each with its own topic.
The server counts tokens as 4 characters each (on /tokenize and on every chat request it is sent),
reports a window of `window` tokens, and answers like a summarizing model held to `max_tokens`: a
map cites each document of its shard in one line, a reduce keeps the citations of the partial
summaries it merges, each cut at the request's max_tokens (finish_reason "length"). It can hold
every map answer after the first `answer_only`, until `release()` (a run killed half-way).
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

from tests.faultserver import FaultServer, Reply  # noqa: E402
from tests.pdfs import pdf_bytes  # noqa: E402

MODEL = "stand-in"
MAP_PROMPT = "You see one part"
_IDS = re.compile(r'<document id="([^"#]+)"')
_PAGE_IDS = re.compile(r'id="([^"#]+\.pdf)#page=(\d+)"')
_CITED = re.compile(r"`([^`\s]+(?::\d+|#page=\d+))`")
TOPICS = ["harbour tonnage", "berth allocation", "pilot rosters", "customs checks", "crane upkeep",
          "storage fees", "vessel arrivals", "cargo claims", "dredging works", "tug contracts"]


def tokens(text: str) -> int:
    """What the stand-in's tokenizer says: one token per 4 characters."""
    return len(text) // 4 + 1


def make_corpus(
    root: Path, documents: int = 1000, pdf_every: int = 10, scale: int = 1
) -> dict[str, str]:
    """`documents` files of 6-14 lines times `scale` under `root` (every `pdf_every`-th a 2-page
    PDF); path -> its text."""
    texts: dict[str, str] = {}
    for n in range(documents):
        topic = TOPICS[n % len(TOPICS)]
        lines = [f"Note {n} on {topic}: item {n * 7 + k} costs {k * 13 + n} euros, "
                 f"checked by team {k % 5}." for k in range((6 + n % 9) * scale)]
        if n % pdf_every == 0:
            pages = ["\n".join(lines[:3]), "\n".join(lines[3:])]
            path = f"reports/report_{n:04}.pdf"
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(pdf_bytes(pages))
            texts[path] = "\n".join(pages)
        else:
            path = f"notes/{topic.replace(' ', '_')}/note_{n:04}.md"
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            text = f"# Note {n}: {topic}\n" + "\n".join(lines) + "\n"
            (root / path).write_text(text)
            texts[path] = text
    return texts


class SummaryServer:
    """The stand-in on a FaultServer: every chat request's prompt tokens, by kind, are kept."""

    def __init__(self, server: FaultServer, *, window: int, delay: float = 0.0) -> None:
        self.server, self.delay = server, delay
        self.prompt_tokens = {"map": 0, "reduce": 0}
        self.requests = {"map": 0, "reduce": 0}
        self.in_flight = self.maps_answered = 0
        self.answer_only: int | None = None
        self.answered: list[str] = []  # the system prompts of the map requests answered
        self.first_at = self.last_at = 0.0  # perf_counter of the first request, the last answer
        self._lock = threading.Lock()
        self._gate = threading.Event()
        server.script("GET", "/v1/models", Reply(200, {"data": [{"id": MODEL,
                                                                 "max_model_len": window}]}))
        server.script("POST", "/tokenize", _count)
        server.script("POST", "/v1/chat/completions", self._chat)

    def release(self) -> None:
        self.answer_only = None
        self._gate.set()

    def map_prompts(self, since: int = 0) -> list[str]:
        bodies = [seen.body for seen in self.server.requests_to("/v1/chat/completions")[since:]]
        return [b["messages"][0]["content"] for b in bodies
                if b["messages"][0]["content"].startswith(MAP_PROMPT)]

    def _chat(self, body: dict[str, Any]) -> Reply:
        system = body["messages"][0]["content"]
        kind = "map" if system.startswith(MAP_PROMPT) else "reduce"
        with self._lock:
            self.first_at = self.first_at or time.perf_counter()
            self.in_flight += 1
            self.prompt_tokens[kind] += tokens(" ".join(m["content"] for m in body["messages"]))
            self.requests[kind] += 1
            hold = kind == "map" and self.answer_only is not None and (
                self.maps_answered >= self.answer_only)
            self.maps_answered += kind == "map" and not hold
        if hold:
            self._gate.wait(60)
        time.sleep(self.delay)
        text, finish = _answer(system, kind, int(body.get("max_tokens") or 512))
        with self._lock:
            self.in_flight -= 1
            self.last_at = time.perf_counter()
            if kind == "map" and not hold:
                self.answered.append(system)
        return Reply(200, {"choices": [{"message": {"content": text}, "finish_reason": finish}],
                           "usage": {"prompt_tokens": tokens(system),
                                     "completion_tokens": tokens(text)}})


def _answer(system: str, kind: str, max_tokens: int) -> tuple[str, str]:
    """One line per document a map saw, or per citation the merged partials kept; cut to fit."""
    if kind == "map":
        cited = [f"{path}#page={page}" for path, page in _PAGE_IDS.findall(system)]
        cited = list(dict.fromkeys([f"{p}:2" for p in _IDS.findall(system)
                                    if not p.endswith(".pdf")] + cited))
    else:
        cited = list(dict.fromkeys(_CITED.findall(system)))
    lines = [f"- `{where}` records costs and checks." for where in cited]
    text, used = [], 0
    for line in lines:
        if used + tokens(line + "\n") > max_tokens:
            return "\n".join(text), "length"
        text.append(line)
        used += tokens(line + "\n")
    return "\n".join(text) or "NOT IN THIS PART", "stop"


def _count(body: dict[str, Any]) -> Reply:
    text = body.get("prompt") or " ".join(m["content"] for m in body.get("messages", []))
    return Reply(200, {"count": tokens(text)})
