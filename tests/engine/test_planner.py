"""The capacity planner: architecture from config.json, refused setups, the calibrated reserve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from longread.analysis.cli.commands import cli
from longread.engine.errors import PromptTooLong
from longread.engine.planner import (
    FITTED_TO,
    OUT_OF_SAMPLE,
    Datapoint,
    alternatives,
    check_fits,
    describe,
    parse_gpus,
    plan_capacity,
    serve_command,
    vllm_settings,
)
from longread.ingest.errors import UsageError

PUBLISHED_8XH200 = 3_600_000
PUBLISHED_8XH100 = 1_000_000


def test_the_reserve_is_fitted_to_the_8xh200_figure() -> None:
    plan = plan_capacity("llama-4-scout", "8xH200")
    assert plan.max_model_len == PUBLISHED_8XH200 == FITTED_TO.max_model_len
    assert plan.published == PUBLISHED_8XH200
    assert plan.kv_bytes_per_token == 48 * 8 * 128 * 2 * 2  # 192 KiB: every layer full-length
    assert not plan.fits_full_context


@pytest.mark.parametrize("point", OUT_OF_SAMPLE, ids=lambda point: point.source)
def test_out_of_sample_figures_are_within_25_percent_and_printed_with_their_error(
    point: Datapoint,
) -> None:
    """Not the calibration point: vLLM's 8xH100 1M, and a field report of 2.94M on 8xH200."""
    planned = plan_capacity("llama-4-scout", point.gpus).kv_tokens
    error = (planned - point.max_model_len) / point.max_model_len
    assert abs(error) <= 0.25, f"{point}: planned {planned:,} ({error:+.0%})"
    printed = "\n".join(describe(plan_capacity("smollm2", "1xL4")))
    assert f"checked against {point.gpus} {point.max_model_len:,}" in printed
    assert f"planned {planned:,} ({error:+.0%})" in printed


def test_fp8_kv_cache_doubles_the_tokens() -> None:
    bf16 = plan_capacity("llama-4-scout", "8xH200")
    fp8 = plan_capacity("llama-4-scout", "8xH200", kv_cache_dtype="fp8")
    assert fp8.kv_tokens == pytest.approx(2 * bf16.kv_tokens, rel=0.01)


def test_hybrid_kv_grows_only_the_global_layers_and_reaches_the_full_window() -> None:
    bf16 = plan_capacity("llama-4-scout", "8xH200")
    hybrid = plan_capacity("llama-4-scout", "8xH200", hybrid_kv=True)
    assert hybrid.growing_layers == 12
    assert hybrid.kv_tokens > 3.5 * bf16.kv_tokens
    assert hybrid.max_model_len == 10_485_760 and hybrid.fits_full_context


def test_more_sequences_share_the_pool() -> None:
    one = plan_capacity("llama-4-scout", "8xH200")
    four = plan_capacity("llama-4-scout", "8xH200", max_num_seqs=4)
    assert four.max_model_len <= one.kv_tokens // 4


def test_the_explanation_names_each_way_to_the_full_window() -> None:
    plan = plan_capacity("llama-4-scout", "8xH200")
    labels = [label for label, _ in alternatives(plan)]
    assert labels[0] == "--kv-cache-dtype fp8" and labels[1] == "--hybrid-kv"
    assert labels[2].endswith("nodes of 8xH200")
    text = "\n".join(describe(plan))
    assert "the full 10,485,760 tokens need 1,920 GiB" in text


def test_serve_command_and_llm_settings_match_the_plan() -> None:
    plan = plan_capacity("llama-4-scout", "2x8xH100", kv_cache_dtype="fp8")
    command = serve_command(plan)
    assert command.startswith("vllm serve meta-llama/Llama-4-Scout-17B-16E-Instruct ")
    assert f"--max-model-len {plan.max_model_len}" in command
    assert "--tensor-parallel-size 8 " in command and "--pipeline-parallel-size 2" in command
    assert "--kv-cache-dtype fp8" in command and "--disable-hybrid-kv-cache-manager" in command
    settings = vllm_settings(plan)
    assert settings["distributed_executor_backend"] == "ray"
    hybrid = serve_command(plan_capacity("llama-4-scout", "8xH200", hybrid_kv=True))
    assert hybrid.startswith("VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE=1 vllm serve")


def test_maverick_fits_its_million_tokens_on_8xh200() -> None:
    plan = plan_capacity("llama-4-maverick", "8xH200")
    assert plan.max_model_len == 1_048_576 and plan.fits_full_context


@pytest.mark.parametrize(
    ("text", "nodes", "per_node", "name"),
    [("8xH200", 1, 8, "H200"), ("2x8xH100", 2, 8, "H100"), ("h100", 1, 1, "H100"),
     ("4xA100-40", 1, 4, "A100-40")],
)
def test_parse_gpus(text: str, nodes: int, per_node: int, name: str) -> None:
    gpus = parse_gpus(text)
    assert (gpus.nodes, gpus.per_node, gpus.name) == (nodes, per_node, name)


@pytest.mark.parametrize("text", ["8xT4000", "8x", "0xH100", "x8xH100"])
def test_parse_gpus_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(UsageError, match="--gpus"):
        parse_gpus(text)


def test_check_fits_refuses_with_the_numbers() -> None:
    check_fits(8191, 8192)
    with pytest.raises(PromptTooLong, match=r"9,000 tokens but the window is 8,192 \(809 over") \
            as raised:
        check_fits(9000, 8192)
    # Worded for every caller (an agent's budget is an argument); the CLI prints its flags.
    assert str(raised.value).endswith("lower the budget, or raise the max-model-len setting if "
                                      "the GPUs allow it") and "--" not in str(raised.value)
    assert raised.value.cli is not None and "lower --budget, or raise --max-model-len" in \
        raised.value.cli


def test_plan_command_prints_json_and_text(tmp_path) -> None:
    runner = CliRunner()
    args = ["--cache-dir", str(tmp_path), "plan", "--model", "llama-4-scout", "--gpus", "8xH200"]
    result = runner.invoke(cli, [*args, "--kv-cache-dtype", "fp8", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["max_model_len"] == 7_200_000 and data["gpus"]["per_node"] == 8
    assert "--kv-cache-dtype fp8" in data["serve_command"]
    text = runner.invoke(cli, args)
    assert text.exit_code == 0 and "vllm serve meta-llama/" in text.output
    bad = runner.invoke(cli, [*args[:-1], "9xNope"])
    assert bad.exit_code == 2 and "cannot read --gpus" in bad.output


def plan_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, ["plan", *args])


def test_weights_larger_than_the_gpus_are_refused_with_the_minimum_count() -> None:
    result = plan_cli("--model", "llama-4-scout", "--gpus", "1xH200")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "longread: error: llama-4-scout does not fit on 1 H200: 203.0 GiB of weights plus 18.0 "
        "GiB reserve exceed 0.9 of the memory; use at least 2 (--gpus 2xH200)"
    ]
    assert plan_cli("--model", "llama-4-scout", "--gpus", "2xH200").exit_code == 0


def test_no_room_for_one_token_per_sequence_is_refused() -> None:
    result = plan_cli("--gpus", "2xH200", "--max-num-seqs", "1000000")
    assert result.exit_code == 2 and "not one token per sequence" in result.output
    assert "max_model_len 0" not in result.output


@pytest.mark.parametrize(
    ("model", "gpus", "tp"),
    [("llama-4-scout", "3xH200", 2), ("llama-4-scout", "6xH100", 4),
     ("llama-4-scout", "16xH200", 8), ("smollm2", "8xH200", 3)],
)
def test_tensor_parallel_size_divides_the_heads(model: str, gpus: str, tp: int) -> None:
    result = plan_cli("--model", model, "--gpus", gpus, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["tensor_parallel_size"] == tp
    heads, kv_heads = data["attention_heads"], data["kv_heads"]
    assert heads % tp == 0 and (kv_heads % tp == 0 or tp % kv_heads == 0)
    assert f"--tensor-parallel-size {tp} " in data["serve_command"]
    text = plan_cli("--model", model, "--gpus", gpus).output
    assert f"tensor-parallel size {tp}: it must divide the {data['attention_heads']}" in text


def test_an_unknown_model_is_a_usage_error() -> None:
    result = plan_cli("--model", "nope", "--gpus", "8xH200")
    assert result.exit_code == 2 and "unknown model 'nope'" in result.output


def test_a_model_directory_is_planned_from_its_config_and_weight_files(tmp_path: Path) -> None:
    """Llama 4's nested text_config; the weights are what the files hold (a sparse 40 GiB)."""
    model = tmp_path / "model"
    model.mkdir()
    text = {"num_hidden_layers": 24, "num_attention_heads": 32, "num_key_value_heads": 4,
            "hidden_size": 4096, "max_position_embeddings": 262144,
            "attention_chunk_size": 8192, "no_rope_layers": [1, 1, 1, 0] * 6}
    (model / "config.json").write_text(json.dumps({"text_config": text}))
    with open(model / "model.safetensors", "wb") as weights:
        weights.truncate(40 * 1024**3)
    result = plan_cli("--model", str(model), "--gpus", "1xH100", "--hybrid-kv", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["weights_gib"] == 40.0 and data["context_limit"] == 262144
    assert data["growing_layers"] == 6  # the global layers: no_rope_layers marks them with 0
    assert data["kv_bytes_per_token"] == 6 * 4 * 128 * 2 * 2  # head_dim 4096 / 32
    assert data["source"] == str(model)
