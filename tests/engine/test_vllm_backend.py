"""The vLLM backend: option merging (no engine), then the real CPU engine, once per session."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from longread.engine.backend import ChatRequest, Completion, Message, SamplingSettings
from longread.engine.errors import BackendUnavailable, PromptTooLong
from longread.engine.models import PRESETS, resolve_model
from longread.engine.vllm_backend import (
    CPU_KV_CACHE_BYTES,
    NOT_INSTALLED,
    RATES_FILE,
    PrefillRates,
    VllmBackend,
    _request_failure,
    cpu_dtype,
    engine_identity,
    engine_settings,
)

CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
    "required": ["city", "country"],
    "additionalProperties": False,
}


def ask(text: str, max_tokens: int = 24, schema: dict[str, Any] | None = None) -> ChatRequest:
    return ChatRequest((Message("user", text),), SamplingSettings(max_tokens=max_tokens), schema)


def ledger(lines: int, offset: int = 0) -> str:
    """A corpus of distinct, answerable lines (about 25 tokens each)."""
    return "\n".join(
        f"Dock {n}: warehouse {n * 7 % 97} holds {n * 13} crates of apples."
        for n in range(offset, offset + lines)
    )


def cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 {flags}\n\nprocessor\t: 1\n")
    return path


def test_cpu_dtype_is_bf16_only_with_bf16_instructions(tmp_path: Path) -> None:
    assert cpu_dtype(cpuinfo(tmp_path, "avx avx2 fma")) == "float32"
    assert cpu_dtype(cpuinfo(tmp_path, "avx2 avx512f avx512_bf16")) == "bfloat16"
    assert cpu_dtype(cpuinfo(tmp_path, "avx2 amx_bf16 amx_tile")) == "bfloat16"
    assert cpu_dtype(tmp_path / "no-such-cpuinfo") == "float32"


def test_flags_override_the_preset_and_empty_values_keep_it(tmp_path: Path) -> None:
    spec, avx2 = PRESETS["smollm2"], cpuinfo(tmp_path, "avx2")
    assert engine_settings(spec, {}, avx2) == {
        "max_model_len": 8192, "dtype": "float32", "enforce_eager": True,
        "kv_cache_memory_bytes": CPU_KV_CACHE_BYTES,
        "enable_chunked_prefill": False, "max_num_batched_tokens": 8192,
    }
    chunked = engine_settings(spec, {"max_num_batched_tokens": 2048}, avx2)
    assert "enable_chunked_prefill" not in chunked  # a smaller batch needs chunked prefill
    chosen = engine_settings(spec, {"max_model_len": 4096, "dtype": "", "enforce_eager": False,
                                    "quantization": "", "tensor_parallel_size": 0}, avx2)
    assert chosen["max_model_len"] == 4096 and chosen["dtype"] == "float32"
    assert engine_settings(spec, {"dtype": "bfloat16"}, avx2)["dtype"] == "bfloat16"
    assert chosen["enforce_eager"] is False and "tensor_parallel_size" not in chosen
    scout = engine_settings(PRESETS["llama-4-scout"], {"kv_cache_dtype": "fp8"})
    assert scout == {"tensor_parallel_size": 8, "max_model_len": 1_000_000, "dtype": "bfloat16",
                     "kv_cache_dtype": "fp8"}


def test_identity_holds_what_changes_answers_and_not_what_only_schedules() -> None:
    spec = PRESETS["llama-4-scout"]
    base = engine_identity(spec, engine_settings(spec, {}))
    assert engine_identity(spec, engine_settings(spec, {"max_num_batched_tokens": 4096})) == base
    assert engine_identity(spec, engine_settings(spec, {"kv_cache_dtype": "fp8"})) != base
    assert base["model"] == "llama-4-scout" and base["dtype"] == "bfloat16"
    small = PRESETS["smollm2"]
    fp32 = engine_identity(small, engine_settings(small, {"dtype": "float32"}))
    assert fp32 != engine_identity(small, engine_settings(small, {"dtype": "bfloat16"}))
    assert fp32["free_text_frequency_penalty"] > 0 and fp32["max_tokens"] == small.max_tokens


def test_unknown_options_are_refused() -> None:
    with pytest.raises(TypeError, match="unknown vLLM options: max_num_seqs"):
        VllmBackend(model="smollm2", models_dir=Path("/nonexistent"), max_num_seqs=4)


def test_missing_vllm_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` now raises ImportError
    with pytest.raises(BackendUnavailable) as caught:
        VllmBackend(model=str(tmp_path))
    assert str(caught.value) == NOT_INSTALLED


@pytest.mark.slow
def test_vllm_validation_errors_are_translated() -> None:
    from vllm.exceptions import VLLMValidationError

    too_long = VLLMValidationError(
        "The decoder prompt (length 9000) is longer than the maximum model length of 8192. "
        "Make sure that `max_model_len` is no smaller than the number of text tokens."
    )
    assert isinstance(_request_failure(too_long), PromptTooLong)
    assert isinstance(_request_failure(ValueError("bad top_p")), BackendUnavailable)


def test_a_request_failure_without_a_message_is_still_one_line() -> None:
    assert str(_request_failure(ValueError(""))) == "vLLM refused the request: ValueError"


@pytest.mark.vllm
def test_a_greedy_answer_is_the_same_twice_with_usage_that_adds_up(
    vllm_backend: VllmBackend, engine_dtype: str
) -> None:
    """What longread guarantees, not what a 135M model knows (its facts move with bf16 kernels)."""
    request = ask("What is the capital of France?")
    [first] = vllm_backend.generate([request])
    [again] = vllm_backend.generate([request])
    assert first.text.strip() and again.text == first.text
    assert first.prompt_tokens == again.prompt_tokens
    assert first.prompt_tokens == vllm_backend.count_prompt_tokens(request.messages)
    assert 0 < first.completion_tokens <= 24 and first.seconds > 0
    assert first.finish_reason in ("stop", "length")
    assert (first.finish_reason == "length") == (first.completion_tokens == 24)
    assert vllm_backend.identity()["dtype"] == engine_dtype
    assert vllm_backend.context_window == 8192 and vllm_backend.model == "smollm2"


@pytest.mark.vllm
def test_batched_generate_keeps_request_order(vllm_backend: VllmBackend) -> None:
    requests = [ask("Count from 1 to 100, separated by commas." + " Please." * n, max_tokens=n + 2)
                for n in range(4)]
    completions = vllm_backend.generate(requests)
    assert [c.prompt_tokens for c in completions] == [
        vllm_backend.count_prompt_tokens(r.messages) for r in requests
    ]
    assert [c.completion_tokens for c in completions] == [2, 3, 4, 5]
    assert len({c.prompt_tokens for c in completions}) == 4


@pytest.mark.vllm
def test_count_prompt_tokens_is_what_vllm_reports(vllm_backend: VllmBackend) -> None:
    messages = (Message("system", "Answer from the corpus."), Message("user", ledger(20)))
    [completion] = vllm_backend.generate([ChatRequest(messages, SamplingSettings(max_tokens=1))])
    assert completion.prompt_tokens == vllm_backend.count_prompt_tokens(messages)
    corpus_tokens = vllm_backend.tokenizer.count(ledger(20))
    assert corpus_tokens < completion.prompt_tokens < corpus_tokens + 64


@pytest.mark.vllm
def test_a_second_question_over_the_same_corpus_is_served_from_the_prefix_cache(
    vllm_backend: VllmBackend,
) -> None:
    corpus = ledger(240, offset=1000)  # ~6k tokens, not used by any other test
    corpus_tokens = vllm_backend.tokenizer.count(corpus)
    assert 5000 < corpus_tokens < 7500
    first, second = (
        vllm_backend.generate([ask(f"{corpus}\n\nQuestion: {q}", max_tokens=8)])[0]
        for q in ("How many crates are at dock 1012?", "Which warehouse is dock 1040?")
    )
    assert second.cached_tokens >= 0.9 * corpus_tokens
    assert first.prompt_tokens > corpus_tokens and second.prompt_tokens > corpus_tokens


@pytest.mark.vllm
def test_json_schema_output_parses_and_validates(vllm_backend: VllmBackend) -> None:
    request = ask("Give the capital of France and its country as JSON.", 48, CITY_SCHEMA)
    [completion] = vllm_backend.generate([request])
    jsonschema.validate(json.loads(completion.text), CITY_SCHEMA)


@pytest.mark.vllm
def test_an_over_window_prompt_is_refused_before_vllm_sees_it(vllm_backend: VllmBackend) -> None:
    with pytest.raises(PromptTooLong, match=r"window is 8,192 \(\d[\d,]* over"):
        vllm_backend.generate([ask(ledger(700), max_tokens=4)])
    [still_working] = vllm_backend.generate([ask("Say yes.", max_tokens=2)])
    assert still_working.completion_tokens >= 1


@pytest.mark.vllm
def test_the_tokenizer_is_the_models_own(
    vllm_backend: VllmBackend, default_model_dir: Path
) -> None:
    counter = vllm_backend.tokenizer
    assert counter.name.startswith("hf:smollm2@sha256:")  # named by content, not folder
    assert counter.count_many(["hello world", ledger(3)]) == [
        counter.count("hello world"), counter.count(ledger(3))
    ]
    assert resolve_model("smollm2", default_model_dir.parent).source == str(default_model_dir)


def test_the_measured_prefill_rate_is_kept_per_dtype_for_the_next_estimate(tmp_path: Path) -> None:
    fresh = Completion("x", prompt_tokens=4100, cached_tokens=100, completion_tokens=1,
                       seconds=50.0)
    PrefillRates(tmp_path, "float32").record([fresh])
    assert PrefillRates(tmp_path, "float32").rate == 80.0
    assert PrefillRates(tmp_path, "bfloat16").rate == 0.0  # another dtype: no estimate yet
    short = Completion("x", prompt_tokens=40, cached_tokens=0, completion_tokens=1, seconds=1.0)
    PrefillRates(tmp_path, "float32").record([short])  # mostly overhead: not a prefill rate
    assert PrefillRates(tmp_path, "float32").rate == 80.0
    (tmp_path / RATES_FILE).write_text("not json")
    assert PrefillRates(tmp_path, "float32").rate == 0.0


def test_dtype_is_part_of_the_answer_cache_identity_through_the_cli(
    tmp_path: Path, default_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from longread.analysis.cli.commands import cli
    from longread.engine.backend import BACKENDS
    from tests.fakes import FakeBackend

    started: list[dict[str, Any]] = []

    def engine(**options: Any) -> FakeBackend:
        started.append(options)
        return FakeBackend()

    monkeypatch.setitem(BACKENDS, "vllm", engine)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "models").symlink_to(default_model_dir.parent)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text("The zebra lives in the notes.\n")

    def ask(*flags: str) -> bool:
        result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "ask",
                                          str(corpus), "Where is the zebra?", "--json", *flags])
        assert result.exit_code == 0, result.output
        return bool(json.loads(result.output)["answers"][0]["from_cache"])

    assert not ask("--dtype", "float32") and ask("--dtype", "float32")
    assert not ask("--dtype", "bfloat16")  # another dtype answers anew
    assert [options["dtype"] for options in started] == ["float32", "bfloat16"]
