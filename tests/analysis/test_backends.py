"""Model-free cache hits through the CLI: one identity for every job, no engine, no server.

The openai backend is driven against a scripted server on 127.0.0.1 that is then stopped; the
in-process backend gets an engine factory that fails the test if a hit calls it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from longread.analysis.cli.commands import cli
from longread.analysis.config import load_settings
from longread.analysis.engine_settings import open_backend, settings_identity
from longread.engine.backend import BACKENDS
from tests.fakes import FakeBackend, hub_snapshot
from tests.faultserver import FaultServer, Reply

SERVED = "served-model"


def _repo(root: Path) -> Path:
    repo = root / "notes"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "store.py").write_text("class NoteStore:\n    def add(self, text): ...\n")
    (repo / "README.md").write_text("# Notes\nA tiny notes app with a zebra mascot.\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    return repo


def _chat(body: dict[str, Any]) -> Reply:
    return Reply(200, {
        "choices": [{"message": {"content": "The zebra is in `README.md:2`."},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 9},
    })


def _count(body: dict[str, Any]) -> Reply:
    text = body.get("prompt") or " ".join(m["content"] for m in body.get("messages", []))
    return Reply(200, {"count": len(text) // 4 + 1})


def _serve(server: FaultServer, *, models: list[dict[str, Any]], tokenize: bool = True) -> None:
    server.script("GET", "/v1/models", Reply(200, {"object": "list", "data": models}))
    server.script("POST", "/v1/chat/completions", _chat)
    if tokenize:
        server.script("POST", "/tokenize", _count)


@pytest.fixture(autouse=True)
def _few_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGREAD_MAX_RETRIES", "1")


def _ask(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--cache-dir", str(tmp_path / "cache"), "ask", "--json", *args]
    )


def _answer(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["answers"][0]


@pytest.mark.slow
def test_openai_hit_sends_nothing_and_answers_while_the_server_is_down(
    tmp_path: Path,
) -> None:
    repo = _repo(tmp_path)
    with FaultServer() as server:
        _serve(server, models=[{"id": SERVED, "max_model_len": 8192}])
        url = server.url
        flags = ["--backend", "openai", "--base-url", url, "--model", SERVED]
        first = _ask(tmp_path, str(repo), "Where is the zebra?", *flags)
        assert _answer(first)["from_cache"] is False
        asked = len(server.seen)
        warm = _ask(tmp_path, str(repo), "Where is the zebra?", *flags)
        assert _answer(warm)["from_cache"] is True and warm.stderr == ""
        assert server.seen[asked:] == []  # a hit sends nothing, not even a probe of /v1/models
        assert len(server.requests_to("/v1/chat/completions")) == 1
    hit = _ask(tmp_path, str(repo), "Where is the zebra?", *flags)
    answer = _answer(hit)
    assert answer["from_cache"] is True and "zebra" in answer["answer"]
    assert hit.stderr == ""
    miss = _ask(tmp_path, str(repo), "Who wrote it?", *flags)
    assert miss.exit_code == 4
    assert miss.stderr.splitlines() == [
        f"longread: error: cannot reach {url} (connection refused) — is the server running?"
    ]


def test_openai_without_model_uses_the_one_served_or_lists_them(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    with FaultServer() as server:
        _serve(server, models=[{"id": SERVED, "max_model_len": 8192}])
        result = _ask(tmp_path, str(repo), "Where is the zebra?", "--backend", "openai",
                      "--base-url", server.url)
        assert json.loads(result.stdout)["model"] == SERVED
        assert server.requests_to("/v1/chat/completions")[0].body["model"] == SERVED
        _serve(server, models=[{"id": "a"}, {"id": "b"}])
        several = _ask(tmp_path, str(repo), "Who?", "--backend", "openai", "--base-url",
                       server.url)
    assert several.exit_code == 2
    assert several.stderr.splitlines() == [
        f"longread: error: {server.url} serves a, b; choose one with --model"
    ]


def test_a_hit_without_model_asks_the_server_for_its_model_once(tmp_path: Path) -> None:
    """The session's identity names the served model, and the report's model is that one: a hit
    costs one GET /v1/models and nothing else."""
    repo = _repo(tmp_path)
    args = [str(repo), "Where is the zebra?", "--backend", "openai"]
    with FaultServer() as server:
        _serve(server, models=[{"id": SERVED, "max_model_len": 8192}])
        assert _ask(tmp_path, *args, "--base-url", server.url).exit_code == 0
        before = len(server.seen)
        hit = _ask(tmp_path, *args, "--base-url", server.url)
        later = [seen.path for seen in server.seen[before:]]
    assert _answer(hit)["from_cache"] is True and json.loads(hit.stdout)["model"] == SERVED
    assert later == ["/v1/models"]


def test_a_server_without_window_or_tokenize_works_with_context_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ollama / llama.cpp / OpenAI shape: no max_model_len, no /tokenize."""
    repo = _repo(tmp_path)
    with FaultServer() as server:
        _serve(server, models=[{"id": "llama3.2", "object": "model"}], tokenize=False)
        flags = ["--backend", "openai", "--base-url", server.url]
        refused = _ask(tmp_path, str(repo), "Where is the zebra?", *flags)
        assert refused.exit_code == 4 and "--context-window N" in refused.stderr
        monkeypatch.setenv("LONGREAD_CONTEXT_WINDOW", "16384")
        result = _ask(tmp_path, str(repo), "Where is the zebra?", *flags)
        assert _answer(result)["from_cache"] is False
        notes = [line for line in result.stderr.splitlines() if "/tokenize" in line]
        assert notes == [f"longread: note: {server.url.removesuffix('/v1')} has no vLLM /tokenize: "
                         "counting with cl100k + 25% margin (approximate)"]
        by_flag = _ask(tmp_path, str(repo), "Why?", *flags, "--context-window", "16384")
        assert by_flag.exit_code == 0, by_flag.output


def _tokenizer_json() -> str:
    """A real (tiny) tokenizer.json, so counting loads it as it would a model's."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "zebra": 1}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return tokenizer.to_str()


@pytest.mark.parametrize("cached_tokenizer", [True, False], ids=["hf-cache", "no-hf-cache"])
def test_hub_id_hit_never_starts_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cached_tokenizer: bool
) -> None:
    """`--model llama-4-scout` (a hub id): the first run generates, the second is a pure hit."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    if cached_tokenizer:
        hub_snapshot(tmp_path / "hf", "meta-llama/Llama-4-Scout-17B-16E-Instruct",
                     {"tokenizer.json": _tokenizer_json()})
    repo = _repo(tmp_path)
    started: list[dict[str, Any]] = []

    def engine(**options: Any) -> FakeBackend:
        started.append(options)
        return FakeBackend(context_window=100_000)

    monkeypatch.setitem(BACKENDS, "vllm", engine)
    args = [str(repo), "Where is the zebra?", "--backend", "vllm", "--model", "llama-4-scout"]
    assert _answer(_ask(tmp_path, *args))["from_cache"] is False
    assert len(started) == 1

    def refuse(**options: Any) -> FakeBackend:
        raise AssertionError("a cache hit started the engine")

    monkeypatch.setitem(BACKENDS, "vllm", refuse)
    assert _answer(_ask(tmp_path, *args))["from_cache"] is True


@pytest.mark.parametrize(
    "flags",
    [
        {"backend": "vllm", "model": "llama-4-scout"},
        {"backend": "vllm", "model": "llama-4-maverick", "kv_cache_dtype": "fp8"},
        {"backend": "openai", "model": SERVED, "context_window": 4096},
    ],
)
def test_every_job_keys_answers_with_the_one_settings_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: dict[str, Any]
) -> None:
    """The session every job keys its cache with (ask, summarize, review) names the model by
    settings_identity, worked out with no engine and no request."""
    monkeypatch.setitem(BACKENDS, "vllm", lambda **options: pytest.fail("engine started"))
    settings = load_settings({"cache_dir": str(tmp_path), "base_url": "http://127.0.0.1:9/v1",
                              **flags})
    backend = open_backend(settings)
    assert backend.identity() == settings_identity(settings)
    assert backend.identity()["model"] in (flags["model"], SERVED)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_review_hit_over_openai_needs_no_server_either(tmp_path: Path) -> None:
    """review keys its cache with the same identity as ask: a stopped server still answers."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    (repo / "app.py").write_text("def first(items):\n    return items[0]\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    (repo / "app.py").write_text("def first(items):\n    return items[1]\n")
    _git(repo, "commit", "-q", "-am", "bug")
    findings = {"findings": [{"path": "app.py", "start_line": 2, "end_line": 2,
                              "severity": "warning", "category": "bug", "message": "off by one"}]}
    args = ["--cache-dir", str(tmp_path / "cache"), "review", "--repo", str(repo), "--base",
            "HEAD~1", "--format", "json", "--fail-on", "never", "--backend", "openai",
            "--model", SERVED]
    with FaultServer() as server:
        _serve(server, models=[{"id": SERVED, "max_model_len": 8192}])
        server.script("POST", "/v1/chat/completions", Reply(200, {
            "choices": [{"message": {"content": json.dumps(findings)}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20},
        }))
        url = server.url
        first = CliRunner().invoke(cli, [*args, "--base-url", url])
        assert first.exit_code == 0, first.output
    second = CliRunner().invoke(cli, [*args, "--base-url", url])
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["findings"] == json.loads(first.stdout)["findings"]
    assert json.loads(first.stdout)["findings"]


def test_review_over_a_server_retries_an_invalid_reply_once_through_the_engine_entry(
    tmp_path: Path,
) -> None:
    """With requests in flight (--concurrency 4) as with one at a time: prose, then the next seed
    with the same schema; only the valid reply is cached, so a stopped server still answers."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "t@example.com"],
                 ["config", "user.name", "t"]):
        _git(repo, *args)
    (repo / "app.py").write_text("def first(items):\n    return items[0]\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    (repo / "app.py").write_text("def first(items):\n    return items[1]\n")
    _git(repo, "commit", "-q", "-am", "bug")
    findings = {"findings": [{"path": "app.py", "start_line": 2, "end_line": 2,
                              "severity": "warning", "category": "bug", "message": "off by one"}]}
    usage = {"prompt_tokens": 100, "completion_tokens": 20}
    replies = [Reply(200, {"choices": [{"message": {"content": text}, "finish_reason": "stop"}],
                           "usage": usage}) for text in ("LGTM, approved.", json.dumps(findings))]
    args = ["--cache-dir", str(tmp_path / "cache"), "review", "--repo", str(repo), "--base",
            "HEAD~1", "--format", "json", "--fail-on", "never", "--backend", "openai",
            "--model", SERVED, "--concurrency", "4"]
    with FaultServer() as server:
        _serve(server, models=[{"id": SERVED, "max_model_len": 8192}])
        server.script("POST", "/v1/chat/completions", *replies)
        url = server.url
        first = CliRunner().invoke(cli, [*args, "--base-url", url])
        asked = [seen.body for seen in server.requests_to("/v1/chat/completions")]
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert data["findings"] and any(w.startswith("attempt 1:") for w in data["warnings"])
    assert [body["seed"] for body in asked] == [0, 1]
    assert asked[0]["response_format"] == asked[1]["response_format"]
    assert asked[0]["response_format"]["type"] == "json_schema"
    second = CliRunner().invoke(cli, [*args, "--base-url", url])
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["cached"] is True
