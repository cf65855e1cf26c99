"""Fan-out through the CLI against a stand-in OpenAI-compatible server on 127.0.0.1: N requests in
flight for a map past the window, each result cached as it returns, a killed run resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from longread.analysis.cli.commands import cli
from tests.faultserver import FaultServer, Reply
from tests.killed_runs import shard_rows, wait_for

SERVED = "served-model"
QUESTION = "Where is the zebra?"
MAP_PROMPT = "You see one part"
WAIT_S = 60.0
FILL_S = 10.0


class StandIn:
    """A server whose chat answers take `delay` s. It counts the requests in flight; with `fill`,
    the first requests wait (up to FILL_S) until `fill` are in flight at once, so the count does
    not depend on how fast a busy machine starts threads; once `answer_only` map answers are out,
    it holds every further one until `release()`."""

    def __init__(self, server: FaultServer, *, delay: float) -> None:
        self.server, self.delay = server, delay
        self.in_flight = self.most_in_flight = self.maps_answered = 0
        self.answer_only: int | None = None
        self.fill: int | None = None
        self.refuse = False  # past `answer_only`: refuse with HTTP 400 instead of holding
        self.answered: list[str] = []  # the system prompts of the map requests answered
        self._lock = threading.Lock()
        self._filled = threading.Condition(self._lock)
        self._gate = threading.Event()
        server.script("GET", "/v1/models", Reply(200, {"data": [{"id": SERVED,
                                                                 "max_model_len": 1024}]}))
        server.script("POST", "/tokenize", _count)
        server.script("POST", "/v1/chat/completions", self._chat)

    def release(self) -> None:
        self.answer_only, self.refuse = None, False
        self._gate.set()

    def map_prompts(self, since: int = 0) -> list[str]:
        bodies = [seen.body for seen in self.server.requests_to("/v1/chat/completions")[since:]]
        return [b["messages"][0]["content"] for b in bodies
                if b["messages"][0]["content"].startswith(MAP_PROMPT)]

    def _chat(self, body: dict[str, Any]) -> Reply:
        system = body["messages"][0]["content"]
        is_map = system.startswith(MAP_PROMPT)
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            hold = is_map and self.answer_only is not None and (
                self.maps_answered >= self.answer_only)
            self.maps_answered += is_map and not hold
            self._filled.notify_all()
            if self.fill is not None and self.most_in_flight < self.fill:
                self._filled.wait_for(lambda: self.most_in_flight >= (self.fill or 0), FILL_S)
        if hold and self.refuse:
            with self._lock:
                self.in_flight -= 1
            return Reply(400, {"error": {"message": "the stand-in refuses"}})
        if hold:
            self._gate.wait(WAIT_S)
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
            if is_map and not hold:
                self.answered.append(system)
        text = "This part mentions the zebra." if is_map else "The zebra is in the notes."
        return Reply(200, {"choices": [{"message": {"content": text}, "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 100, "completion_tokens": 7}})


def _count(body: dict[str, Any]) -> Reply:
    text = body.get("prompt") or " ".join(m["content"] for m in body.get("messages", []))
    return Reply(200, {"count": len(text) // 4 + 1})


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    with FaultServer() as server:
        running = StandIn(server, delay=0.15)
        yield running
        running.release()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """About 14 shards for a 1,024-token window: 40 files of ~1 KB."""
    root = tmp_path / "corpus"
    root.mkdir()
    for n in range(40):
        lines = [f"note {n}.{k}: the value of item {n * 100 + k} is {k * 7}." for k in range(24)]
        (root / f"note_{n:02}.md").write_text("\n".join(lines) + "\n")
    return root


def _flags(url: str) -> list[str]:
    return ["--backend", "openai", "--base-url", url, "--model", SERVED, "--max-tokens", "64"]


def _ask(tmp_path: Path, corpus: Path, *flags: str, question: str | None = QUESTION) -> Result:
    asked = [question] if question else []
    return CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "ask", "--json",
                                    str(corpus), *asked, *flags])


@pytest.mark.slow
@pytest.mark.parametrize("source", ["flag", "env", "config", "default"])
def test_a_map_keeps_the_configured_number_of_requests_in_flight(
    tmp_path: Path, corpus: Path, stand_in: StandIn, source: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wanted = {"flag": 3, "env": 5, "config": 2, "default": 8}[source]
    flags = _flags(stand_in.server.url)
    if source == "flag":
        flags += ["--concurrency", "3"]
    elif source == "env":
        monkeypatch.setenv("LONGREAD_CONCURRENCY", "5")
    elif source == "config":
        (tmp_path / "longread.toml").write_text("concurrency = 2\n")
        monkeypatch.chdir(tmp_path)
    stand_in.fill = wanted
    result = _ask(tmp_path, corpus, *flags)
    assert result.exit_code == 0, result.output
    [answer] = json.loads(result.stdout)["answers"]
    assert answer["answer"] == "The zebra is in the notes." and answer["shards"] >= 12
    assert len(stand_in.map_prompts()) == answer["shards"]
    assert stand_in.most_in_flight == wanted


@pytest.mark.slow
def test_several_questions_share_one_fan_out(
    tmp_path: Path, corpus: Path, stand_in: StandIn
) -> None:
    stand_in.fill = 16
    result = _ask(tmp_path, corpus, *_flags(stand_in.server.url), "-q", "Who?", "-q", "Why?",
                  "--concurrency", "16", question=None)
    assert result.exit_code == 0, result.output
    answers = json.loads(result.stdout)["answers"]
    assert [a["question"] for a in answers] == ["Who?", "Why?"]
    assert len(stand_in.map_prompts()) == 2 * answers[0]["shards"]
    assert stand_in.most_in_flight == 16  # ~14 shards each: only together do they fill 16


def test_concurrency_below_one_is_one_line_exit_2(tmp_path: Path, corpus: Path,
                                                   stand_in: StandIn) -> None:
    result = _ask(tmp_path, corpus, *_flags(stand_in.server.url), "--concurrency", "0")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "longread: error: --concurrency must be at least 1, not 0"]


@pytest.mark.slow
def test_a_killed_run_loses_only_what_was_in_flight(
    tmp_path: Path, corpus: Path, stand_in: StandIn
) -> None:
    answered_before_kill, concurrency = 5, 4
    stand_in.answer_only = answered_before_kill
    cache_dir = tmp_path / "cache"
    command = [sys.executable, "-m", "longread.analysis.cli", "--cache-dir", str(cache_dir),
               "ask", str(corpus), QUESTION, *_flags(stand_in.server.url),
               "--concurrency", str(concurrency)]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           env={**os.environ, "LONGREAD_MAX_RETRIES": "0"})
    try:
        wait_for(lambda: stand_in.in_flight == concurrency
                  and stand_in.maps_answered == answered_before_kill, "the held requests", WAIT_S)
        wait_for(lambda: shard_rows(cache_dir) == answered_before_kill, "the cached shards", WAIT_S)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    stats = CliRunner().invoke(cli, ["--cache-dir", str(cache_dir), "cache", "stats", "--json"])
    assert json.loads(stats.stdout)["answers"]["by_kind"] == {"shard": answered_before_kill}
    first = set(stand_in.answered)
    stand_in.release()
    seen = len(stand_in.server.requests_to("/v1/chat/completions"))
    resumed = _ask(tmp_path, corpus, *_flags(stand_in.server.url))
    assert resumed.exit_code == 0, resumed.output
    rest = stand_in.map_prompts(since=seen)
    seen = len(stand_in.server.requests_to("/v1/chat/completions"))
    again = _ask(tmp_path, corpus, *_flags(stand_in.server.url), "--refresh")
    every_shard = stand_in.map_prompts(since=seen)
    assert len(first) == answered_before_kill and not first & set(rest)
    assert set(rest) | first == set(every_shard)
    assert len(rest) == len(every_shard) - answered_before_kill  # nothing asked twice
    assert json.loads(again.stdout)["answers"][0]["shards"] == len(every_shard)


@pytest.mark.slow
def test_a_failed_request_stops_the_run_and_keeps_every_finished_result(
    tmp_path: Path, corpus: Path, stand_in: StandIn
) -> None:
    stand_in.answer_only, stand_in.refuse = 6, True
    failed = _ask(tmp_path, corpus, *_flags(stand_in.server.url), "--concurrency", "4")
    assert failed.exit_code == 4
    assert len(failed.stderr.splitlines()) == 1 and "the stand-in refuses" in failed.stderr
    stats = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "cache", "stats",
                                     "--json"])
    assert json.loads(stats.stdout)["answers"]["by_kind"] == {"shard": 6}
    stand_in.release()
    seen = len(stand_in.server.requests_to("/v1/chat/completions"))
    resumed = _ask(tmp_path, corpus, *_flags(stand_in.server.url))
    assert resumed.exit_code == 0, resumed.output
    shards = json.loads(resumed.stdout)["answers"][0]["shards"]
    assert len(stand_in.map_prompts(since=seen)) == shards - 6
    assert not set(stand_in.map_prompts(since=seen)) & set(stand_in.answered[:6])
