"""A cached answer needs no server, whichever counter counted the pack: a stand-in for llama.cpp,
Ollama or OpenAI (no vLLM `/tokenize`, so counts are approximate) on 127.0.0.1, then stopped.

Through the CLI, and through `longread serve` (real uvicorn in a thread of this process) after a
job that failed because the backend was down.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from longread.analysis.cli.commands import cli
from longread.analysis.config import load_settings
from longread.analysis.web.server import ServeOptions
from longread.ingest.corpus_spec import CorpusSpec
from tests.faultserver import FaultServer, Reply
from tests.trees import write_files
from tests.webserver import running

SERVED = "llama3.2"
QUESTION = "Where is the zebra?"
APPROXIMATE = "approximate"  # in the one notice line of a server without /tokenize


@pytest.fixture(autouse=True)
def _few_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGREAD_MAX_RETRIES", "1")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    write_files(root, {"app/store.py": "class NoteStore:\n    def add(self, text): ...\n",
                       "README.md": "# Notes\nA tiny notes app with a zebra mascot.\n"})
    return root


def _chat(body: dict[str, Any]) -> Reply:
    return Reply(200, {
        "choices": [{"message": {"content": "The zebra is in `README.md:2`."},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 9},
    })


def _stand_in(server: FaultServer) -> None:
    """An OpenAI-compatible server that serves one model and chat, and has no /tokenize."""
    server.script("GET", "/v1/models", Reply(200, {"object": "list",
                                                   "data": [{"id": SERVED, "object": "model"}]}))
    server.script("POST", "/v1/chat/completions", _chat)


def _ask(tmp_path: Path, corpus: Path, url: str, question: str = QUESTION, *more: str) -> Result:
    return CliRunner().invoke(cli, [
        "--cache-dir", str(tmp_path / "cache"), "ask", "--json", str(corpus), question,
        "--backend", "openai", "--base-url", url, "--model", SERVED, "--context-window", "8192",
        *more,
    ])


def _answer(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["answers"][0]


@pytest.mark.slow
def test_a_hit_over_a_server_without_tokenize_needs_no_server(
    tmp_path: Path, corpus: Path
) -> None:
    with FaultServer() as server:
        _stand_in(server)
        url = server.url
        first = _ask(tmp_path, corpus, url)
        assert _answer(first)["from_cache"] is False
        assert APPROXIMATE in first.stderr and server.requests_to("/tokenize")
        tokenizer = json.loads(first.stdout)["pack"]["tokenizer"]
        asked = len(server.seen)
        warm = _ask(tmp_path, corpus, url)
        assert _answer(warm)["from_cache"] is True
        assert server.seen[asked:] == []  # not even a probe of /tokenize
    hit = _ask(tmp_path, corpus, url)
    assert _answer(hit)["from_cache"] is True and hit.stderr == ""
    assert json.loads(hit.stdout)["pack"]["tokenizer"] == tokenizer
    assert tokenizer.startswith("approx-")  # the counts were never filed as the server's exact ones
    miss = _ask(tmp_path, corpus, url, "Who wrote it?")
    assert miss.exit_code == 4 and "cannot reach" in miss.stderr


@pytest.mark.slow
@pytest.mark.parametrize("tokenize", [True, False], ids=["vllm-tokenize", "no-tokenize"])
def test_a_budgeted_hit_needs_no_server_either(
    tmp_path: Path, corpus: Path, tokenize: bool
) -> None:
    """A pack cut to a budget is fitted with counts of tree lines, outlines and heads too: every
    one a request to the server, so every one cached."""
    write_files(corpus, {f"app/module_{n}.py": f"def handler_{n}(note):\n    return note\n" * 30
                         for n in range(8)})
    budget = ["--budget", "400"]
    with FaultServer() as server:
        _stand_in(server)
        if tokenize:
            server.script("POST", "/tokenize", lambda body: Reply(200, {
                "count": len(body.get("prompt") or "") // 4 + 1}))
        url = server.url
        first = _ask(tmp_path, corpus, url, QUESTION, *budget)
        assert _answer(first)["from_cache"] is False
        pack = json.loads(first.stdout)["pack"]
        assert pack["tokens"] <= 400 and pack["documents"] < 10  # the budget cut the pack
        asked = len(server.seen)
        assert _answer(_ask(tmp_path, corpus, url, QUESTION, *budget))["from_cache"] is True
        assert server.seen[asked:] == []
    hit = _ask(tmp_path, corpus, url, QUESTION, *budget)
    assert _answer(hit)["from_cache"] is True and hit.stderr == ""
    assert json.loads(hit.stdout)["pack"] == pack


def test_a_server_that_gained_tokenize_counts_exactly_once_it_counts_again(
    tmp_path: Path, corpus: Path
) -> None:
    """The record of which counter a server resolved to is a memo, not a pin: when a count is
    needed and the server now has /tokenize, the exact counter takes over and is recorded."""
    with FaultServer() as server:
        _stand_in(server)
        assert _answer(_ask(tmp_path, corpus, server.url))["from_cache"] is False
        server.script("POST", "/tokenize", lambda body: Reply(200, {"count": 7}))
        (corpus / "NEWS.md").write_text("# News\nThe zebra got a friend.\n")
        changed = _ask(tmp_path, corpus, server.url)
        assert _answer(changed)["from_cache"] is False
        assert json.loads(changed.stdout)["pack"]["tokenizer"].startswith("server:")
        url = server.url
    again = _ask(tmp_path, corpus, url)  # the record now names the exact counter
    assert _answer(again)["from_cache"] is True
    assert json.loads(again.stdout)["pack"]["tokenizer"].startswith("server:")


@contextmanager
def serving(tmp_path: Path, corpus: Path, url: str) -> Iterator[str]:
    """A real `longread serve` (uvicorn in a thread) over the openai backend at `url`."""
    settings = load_settings({"cache_dir": str(tmp_path / "cache"), "backend": "openai",
                              "base_url": url, "model": SERVED, "context_window": 8192,
                              "max_retries": 1}, environ={}, cwd=tmp_path)
    with running(settings, ServeOptions(CorpusSpec.of([corpus]), port=0)) as served:
        yield served


def _post(url: str, question: str) -> httpx.Response:
    return httpx.post(url + "api/ask", json={"question": question}, timeout=60)


@pytest.mark.slow
def test_serve_answers_from_the_cache_after_a_job_failed_on_a_stopped_backend(
    tmp_path: Path, corpus: Path
) -> None:
    backend = FaultServer()
    with backend:
        _stand_in(backend)
        with serving(tmp_path, corpus, backend.url) as url:
            first = _post(url, QUESTION)
            assert first.status_code == 200, first.text
            assert first.json()["answers"][0]["from_cache"] is False
            backend.__exit__(None, None, None)  # the backend stops; serve keeps running
            failed = _post(url, "Who wrote it?")
            assert failed.status_code == 502 and "cannot reach" in failed.json()["error"]
            cached = _post(url, QUESTION)
    assert cached.status_code == 200, cached.text
    assert cached.json()["answers"][0]["from_cache"] is True
    assert cached.json()["answers"][0]["answer"] == first.json()["answers"][0]["answer"]
