"""The openai backend against a scripted server at the wire: usage, retries, faults, counting."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator

import pytest

from longread.engine.backend import ChatRequest, Message, SamplingSettings
from longread.engine.errors import BackendUnavailable, EngineError, PromptTooLong
from longread.engine.openai_backend import OpenAIBackend, server_identity
from longread.engine.server_tokens import APPROXIMATE_MARGIN, counter_name
from longread.ingest.errors import UsageError
from tests.faultserver import FaultServer, Reply

CHAT = "/v1/chat/completions"
MODELS = "/v1/models"
TOKENIZE = "/tokenize"
SECRET = "sk-test-never-printed"


def completion_body(text: str, *, prompt: int = 10, cached: int | None = 4) -> dict:
    details = None if cached is None else {"cached_tokens": cached}
    return {
        "id": "x",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": 3,
            "prompt_tokens_details": details,
        },
    }


MODEL_LIST = {"data": [{"id": "smollm2", "root": "/models/smollm2", "max_model_len": 8192}]}


def ask(text: str) -> ChatRequest:
    return ChatRequest(messages=(Message("user", text),), sampling=SamplingSettings(max_tokens=7))


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as running:
        running.script("GET", MODELS, Reply(200, MODEL_LIST))
        yield running


def backend_for(server: FaultServer, **options: object) -> OpenAIBackend:
    defaults: dict[str, object] = {"timeout": 5.0, "max_retries": 2, "backoff": 0.01}
    return OpenAIBackend(
        base_url=server.url, environ={"OPENAI_API_KEY": SECRET}, **{**defaults, **options}
    )


def test_batch_returns_completions_in_request_order_with_usage(server: FaultServer) -> None:
    def echo(body: dict) -> Reply:
        time.sleep(0.05 if body["messages"][0]["content"] == "first" else 0)
        return Reply(200, completion_body("re: " + body["messages"][0]["content"]))

    server.script("POST", CHAT, echo)
    completions = backend_for(server).generate([ask("first"), ask("second"), ask("third")])

    assert [c.text for c in completions] == ["re: first", "re: second", "re: third"]
    assert (completions[0].prompt_tokens, completions[0].cached_tokens) == (10, 4)
    assert completions[0].completion_tokens == 3 and completions[0].finish_reason == "stop"
    sent = server.requests_to(CHAT)[0]
    assert sent.body["model"] == "smollm2" and sent.body["max_tokens"] == 7
    assert sent.body["seed"] == 0 and sent.body["temperature"] == 0.0
    assert sent.headers["Authorization"] == f"Bearer {SECRET}"


def test_missing_cached_tokens_reads_as_zero(server: FaultServer) -> None:
    server.script("POST", CHAT, Reply(200, completion_body("ok", cached=None)))
    assert backend_for(server).generate([ask("q")])[0].cached_tokens == 0


def test_json_schema_goes_out_as_response_format(server: FaultServer) -> None:
    server.script("POST", CHAT, Reply(200, completion_body("{}")))
    schema = {"title": "findings", "type": "object"}
    request = ChatRequest(messages=(Message("user", "q"),), json_schema=schema)
    backend_for(server).generate([request])
    sent = server.requests_to(CHAT)[0].body["response_format"]
    assert sent == {"type": "json_schema", "json_schema": {"name": "findings", "schema": schema}}


def test_server_errors_are_retried_then_succeed(server: FaultServer) -> None:
    server.script(
        "POST",
        CHAT,
        Reply(500, {"error": {"message": "boom"}}),
        Reply(503),
        Reply(200, completion_body("ok")),
    )
    assert backend_for(server).generate([ask("q")])[0].text == "ok"
    assert len(server.requests_to(CHAT)) == 3


@pytest.mark.slow
def test_429_waits_for_retry_after(server: FaultServer) -> None:
    server.script(
        "POST",
        CHAT,
        Reply(429, {}, headers={"Retry-After": "1"}),
        Reply(200, completion_body("ok")),
    )
    started = time.monotonic()
    assert backend_for(server).generate([ask("q")])[0].text == "ok"
    assert time.monotonic() - started >= 0.95


def test_a_junk_retry_after_falls_back_to_the_normal_backoff(server: FaultServer) -> None:
    server.script(
        "POST",
        CHAT,
        Reply(429, {}, headers={"Retry-After": "soon"}),
        Reply(200, completion_body("ok")),
    )
    assert backend_for(server).generate([ask("q")])[0].text == "ok"
    assert len(server.requests_to(CHAT)) == 2


def test_retries_are_bounded_and_end_in_one_error_line(server: FaultServer) -> None:
    server.script("POST", CHAT, Reply(500, {"error": {"message": "engine died"}}))
    with pytest.raises(EngineError, match="HTTP 500: engine died") as caught:
        backend_for(server, max_retries=3).generate([ask("q")])
    assert len(server.requests_to(CHAT)) == 4
    assert "\n" not in str(caught.value) and SECRET not in str(caught.value)


def test_timeout_is_retried_then_reported(server: FaultServer) -> None:
    server.script("POST", CHAT, Reply(200, completion_body("late"), delay=1.0))
    with pytest.raises(EngineError, match="timed out"):
        backend_for(server, timeout=0.2, max_retries=1).generate([ask("q")])
    assert len(server.requests_to(CHAT)) == 2


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_one_clear_line() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    backend = OpenAIBackend(base_url=url, model="m", max_retries=1, backoff=0.01, environ={})
    with pytest.raises(BackendUnavailable) as caught:
        backend.generate([ask("q")])
    assert str(caught.value) == f"cannot reach {url} (connection refused) — is the server running?"


def test_body_cut_mid_stream_is_retried_then_fails_whole_batch(server: FaultServer) -> None:
    def cut_second(body: dict) -> Reply:
        cut = body["messages"][0]["content"] == "second"
        return Reply(200, completion_body("partial"), cut=cut)

    server.script("POST", CHAT, cut_second)
    with pytest.raises(EngineError, match="broke mid-response"):
        backend_for(server, max_retries=2).generate([ask("first"), ask("second")])
    cut_attempts = [
        s for s in server.requests_to(CHAT) if s.body["messages"][0]["content"] == "second"
    ]
    assert len(cut_attempts) == 3


def test_cut_then_whole_body_recovers(server: FaultServer) -> None:
    server.script(
        "POST",
        CHAT,
        Reply(200, completion_body("x"), cut=True),
        Reply(200, completion_body("whole")),
    )
    assert backend_for(server).generate([ask("q")])[0].text == "whole"


def test_malformed_bodies_are_retried_then_error(server: FaultServer) -> None:
    server.script("POST", CHAT, Reply(200, "{not json"), Reply(200, {"choices": []}))
    with pytest.raises(EngineError, match="malformed response"):
        backend_for(server, max_retries=1).generate([ask("q")])
    assert len(server.requests_to(CHAT)) == 2


def test_context_length_400_is_prompt_too_long_with_numbers(server: FaultServer) -> None:
    message = (
        "This model's maximum context length is 8192 tokens. However, your prompt contains "
        "9001 input tokens, which exceeds this limit even without any output tokens."
    )
    server.script("POST", CHAT, Reply(400, {"error": {"message": message, "code": 400}}))
    with pytest.raises(
        PromptTooLong, match="prompt has 9001 tokens but the model's window is 8192 tokens"
    ):
        backend_for(server).generate([ask("q")])
    assert len(server.requests_to(CHAT)) == 1


def test_window_and_model_come_from_models_listing(server: FaultServer) -> None:
    backend = backend_for(server)
    assert (backend.model, backend.context_window) == ("smollm2", 8192)
    assert backend.identity() == server_identity(server.url, "smollm2", None)


def test_a_named_model_needs_no_request_for_identity_or_tokenizer_name() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    backend = OpenAIBackend(base_url=url, model="m", context_window=4096, environ={})
    assert backend.identity() == {
        "backend": "openai", "url": url, "model": "m", "context_window": 4096
    }
    assert backend.tokenizer.name == counter_name(url.removesuffix("/v1"), "m")
    assert backend.context_window == 4096


def test_model_must_be_chosen_when_several_are_served(server: FaultServer) -> None:
    server.script("GET", MODELS, Reply(200, {"data": [{"id": "a"}, {"id": "b"}]}))
    with pytest.raises(UsageError, match="serves a, b; choose one with the model setting") as ex:
        backend_for(server).model  # noqa: B018
    assert ex.value.cli is not None and ex.value.cli.endswith("choose one with --model")
    with pytest.raises(UsageError, match="does not serve 'c'"):
        backend_for(server, model="c").context_window  # noqa: B018


def test_a_window_the_server_does_not_report_is_asked_for_by_flag(server: FaultServer) -> None:
    server.script("GET", MODELS, Reply(200, {"data": [{"id": "llama3.2", "object": "model"}]}))
    with pytest.raises(EngineError, match="give it with the context-window setting") as ex:
        backend_for(server).context_window  # noqa: B018
    assert ex.value.cli is not None and "--context-window N" in ex.value.cli
    assert backend_for(server, context_window=32768).context_window == 32768


def test_counts_go_through_tokenize_once_per_text(server: FaultServer) -> None:
    server.script(
        "POST", TOKENIZE, lambda body: Reply(200, {"count": len(str(body.get("prompt", ""))) or 42})
    )
    backend = backend_for(server)
    counter = backend.tokenizer
    assert counter.name == counter_name(server.url.removesuffix("/v1"), "smollm2")
    assert counter.count_many(["abc", "de", "abc"]) == [3, 2, 3]
    assert counter.count("de") == 2
    prompts = [s.body["prompt"] for s in server.requests_to(TOKENIZE) if "prompt" in s.body]
    assert sorted(prompts) == ["abc", "de", "probe"]
    assert backend.count_prompt_tokens([Message("user", "hello")]) == 42
    chat_count = server.requests_to(TOKENIZE)[-1].body
    assert chat_count["messages"] == [{"role": "user", "content": "hello"}]
    assert chat_count["add_generation_prompt"] is True


@pytest.mark.parametrize(
    "reply",
    [Reply(404, {"error": {"message": "not here"}}), Reply(405), Reply(501, "Not Implemented"),
     Reply(200, {"tokens": [1, 2]})],  # the last: llama.cpp's /tokenize, another shape
    ids=["404", "405", "501", "llama.cpp"],
)
def test_server_without_vllm_tokenize_falls_back_to_cl100k_with_a_margin_said_once(
    server: FaultServer, reply: Reply
) -> None:
    server.script("POST", TOKENIZE, reply)
    said: list[str] = []
    backend = backend_for(server, notice=said.append)
    assert backend.tokenizer.count("hello world") == math.ceil(2 * APPROXIMATE_MARGIN)
    assert backend.tokenizer.count_many(["hello world", "hello"]) == [3, 2]
    assert backend.count_prompt_tokens([Message("user", "hello world")]) > 3
    assert len(server.requests_to(TOKENIZE)) == 1  # probed once, never retried
    root = server.url.removesuffix("/v1")
    approximate = backend._token_counter().name  # approximate counts are not filed as exact ones
    assert approximate.startswith("approx-cl100k") and approximate != counter_name(root, "smollm2")
    assert backend.tokenizer.name == approximate  # the name the pack files its counts under
    assert said == [f"{root} has no vLLM /tokenize: counting with cl100k + 25% margin "
                    "(approximate)"]


def test_501_is_not_retried(server: FaultServer) -> None:
    server.script("POST", CHAT, Reply(501, {"error": {"message": "no chat here"}}))
    with pytest.raises(EngineError, match="HTTP 501: no chat here"):
        backend_for(server, max_retries=3).generate([ask("q")])
    assert len(server.requests_to(CHAT)) == 1


def test_an_html_error_page_becomes_one_short_line(server: FaultServer) -> None:
    page = (
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\n<center><h1>502 Bad "
        "Gateway</h1></center>\n<hr><center>nginx/1.25.3</center>\n" + "x" * 5000 + "</body></html>"
    )
    server.script("POST", CHAT, Reply(502, page))
    with pytest.raises(EngineError) as caught:
        backend_for(server, max_retries=1).generate([ask("q")])
    assert str(caught.value).endswith("failed with HTTP 502: 502 Bad Gateway")
    assert "\n" not in str(caught.value) and "<" not in str(caught.value)
