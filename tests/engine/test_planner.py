"""The capacity planner against vLLM's published Llama 4 settings, and the up-front window check."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from longread.analysis.cli import cli
from longread.engine.errors import PromptTooLong
from longread.engine.planner import (
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


def test_scout_bf16_on_8xh200_lands_within_25_percent_of_vllms_published_figure() -> None:
    plan = plan_capacity("llama-4-scout", "8xH200")
    assert abs(plan.max_model_len - PUBLISHED_8XH200) <= 0.25 * PUBLISHED_8XH200
    assert plan.published == PUBLISHED_8XH200
    assert plan.kv_bytes_per_token == 48 * 8 * 128 * 2 * 2  # 192 KiB: every layer full-length
    assert not plan.fits_full_context


def test_scout_bf16_on_8xh100_is_near_one_million() -> None:
    plan = plan_capacity("llama-4-scout", "8xH100")
    assert 0.75 * PUBLISHED_8XH100 <= plan.max_model_len <= 1.5 * PUBLISHED_8XH100


def test_fp8_kv_cache_doubles_the_tokens() -> None:
    bf16 = plan_capacity("llama-4-scout", "8xH200")
    fp8 = plan_capacity("llama-4-scout", "8xH200", kv_cache_dtype="fp8")
    assert fp8.kv_tokens == pytest.approx(2 * bf16.kv_tokens, rel=0.01)


def test_hybrid_kv_grows_only_the_global_layers_and_reaches_the_full_window() -> None:
    bf16 = plan_capacity("llama-4-scout", "8xH200")
    hybrid = plan_capacity("llama-4-scout", "8xH200", hybrid_kv=True)
    assert hybrid.growing_layers == 12
    assert hybrid.kv_tokens > 3.5 * bf16.kv_tokens
    assert hybrid.max_model_len == 10_000_000 and hybrid.fits_full_context


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
    assert "the full 10,000,000 tokens need 1,831 GiB" in text


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
    assert plan.max_model_len == 1_000_000 and plan.fits_full_context


def test_weights_that_do_not_fit_leave_no_context() -> None:
    plan = plan_capacity("llama-4-scout", "1xL4")
    assert plan.kv_tokens == 0 and plan.max_model_len == 0


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
    check_fits(8000, 8192, reserve=192)
    with pytest.raises(PromptTooLong, match=r"9,000 tokens .* window is 8,192 \(1,320 over\)"):
        check_fits(9000, 8192, reserve=512)
    plan = plan_capacity("llama-4-scout", "8xH200")
    with pytest.raises(PromptTooLong, match="3,600,000"):
        check_fits(4_000_000, plan)


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
