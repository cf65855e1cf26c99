"""The openai backend against a real vLLM OpenAI-compatible server that the test starts, stops."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from longread.engine.backend import ChatRequest, Message, SamplingSettings
from longread.engine.errors import PromptTooLong
from longread.engine.openai_backend import OpenAIBackend
from longread.ingest.tokens import HuggingFaceCounter

pytestmark = pytest.mark.server

START_TIMEOUT = 300.0  # ~25 s on an idle 2-core machine; 150 s measured under load
CORPUS = " ".join(f"Note {n}: the value of item {n} is {n * 7}." for n in range(60))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command(model_dir: Path, port: int, dtype: str) -> list[str]:
    return [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_dir), "--served-model-name", "smollm2",
        "--host", "127.0.0.1", "--port", str(port), "--max-model-len", "8192",
        "--enable-prefix-caching", "--dtype", dtype, "--enforce-eager",
        "--enable-prompt-tokens-details",
    ]  # fmt: skip


def wait_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> float:
    """Seconds until GET /health answers 200; fails with the log's tail if the server dies."""
    started = time.monotonic()
    while time.monotonic() - started < START_TIMEOUT:
        if process.poll() is not None:
            pytest.fail(f"vLLM server exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(1)
    pytest.fail(f"vLLM server not healthy after {START_TIMEOUT:g} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def vllm_server(
    default_model_dir: Path, engine_dtype: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real server in the dtype of the test (tests/engine/conftest.py: float32, then bfloat16)."""
    scratch = tmp_path_factory.mktemp("vllm-server")
    env = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_CACHE_ROOT": str(scratch / "vllm"),
        "TORCHINDUCTOR_CACHE_DIR": str(scratch / "inductor"),
    }
    port, log = free_port(), scratch / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            server_command(default_model_dir, port, engine_dtype),
            env=env, stdout=sink, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        seconds = wait_healthy(process, url, log)
        print(f"vLLM server healthy after {seconds:.1f} s")
        yield f"{url}/v1"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def backend(vllm_server: str) -> Iterator[OpenAIBackend]:
    served = OpenAIBackend(base_url=vllm_server, timeout=300.0, environ={})
    yield served
    served.close()


def ask(text: str, **sampling: object) -> ChatRequest:
    return ChatRequest(messages=(Message("user", text),), sampling=SamplingSettings(**sampling))


def test_model_and_window_come_from_the_server(backend: OpenAIBackend) -> None:
    assert (backend.model, backend.context_window) == ("smollm2", 8192)
    identity = backend.identity()
    assert identity["model"] == "smollm2" and identity["url"].endswith("/v1")


def test_chat_completion_usage_matches_tokenize(backend: OpenAIBackend) -> None:
    request = ask("What is the capital of France?", max_tokens=16)
    started = time.monotonic()
    completion = backend.generate([request])[0]
    print(f"one short request: {time.monotonic() - started:.2f} s")
    assert completion.text.strip() and 0 < completion.completion_tokens <= 16
    assert completion.prompt_tokens == backend.count_prompt_tokens(request.messages)
    assert (completion.finish_reason == "length") == (completion.completion_tokens == 16)
    assert backend.generate([request])[0].text == completion.text  # greedy: the same twice


def test_second_question_over_the_same_prefix_is_served_from_the_prefix_cache(
    backend: OpenAIBackend,
) -> None:
    first, second = (
        backend.generate([ask(f"{CORPUS}\n\nQuestion: what is the value of item {n}?",
                              max_tokens=12)])[0]
        for n in (3, 9)
    )  # fmt: skip
    print(f"cold {first.seconds:.2f} s, warm {second.seconds:.2f} s, cached {second.cached_tokens}")
    corpus_tokens = backend.tokenizer.count(CORPUS)
    assert second.cached_tokens >= 0.8 * corpus_tokens


def test_server_counts_equal_the_model_tokenizer(
    backend: OpenAIBackend, default_model_dir: Path
) -> None:
    local = HuggingFaceCounter(default_model_dir / "tokenizer.json")
    texts = [CORPUS, "def f(x):\n    return x * 2\n", "naïve café — ünïcode"]
    assert backend.tokenizer.count_many(texts) == local.count_many(texts)
    name = backend.tokenizer.name  # named by where it counts: this server, this model
    assert name.startswith("server:http://127.0.0.1:") and name.endswith("#smollm2")


def test_structured_output_follows_the_schema(backend: OpenAIBackend) -> None:
    schema = {
        "title": "capital",
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    }
    request = ChatRequest(
        messages=(Message("user", "What is the capital of France? Answer in JSON."),),
        sampling=SamplingSettings(max_tokens=40),
        json_schema=schema,
    )
    assert isinstance(json.loads(backend.generate([request])[0].text)["city"], str)


def test_prompt_over_the_window_is_prompt_too_long(backend: OpenAIBackend) -> None:
    with pytest.raises(PromptTooLong, match="window is 8192 tokens"):
        backend.generate([ask("word " * 9000, max_tokens=8)])
