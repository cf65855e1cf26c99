"""`longread plan` for several nodes, through the CLI: Ray, then `vllm serve`, then longread with
--concurrency; layouts the model's heads or layers cannot take are one line, exit 2."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest
from click.testing import CliRunner, Result

from longread.analysis.cli.commands import cli

SCOUT = "meta-llama/Llama-4-Scout-17B-16E-Instruct"


def plan(*args: str) -> Result:
    return CliRunner().invoke(cli, ["plan", *args])


def plan_json(*args: str) -> dict[str, Any]:
    result = plan(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_two_nodes_print_ray_then_vllm_serve_then_longread_in_that_order() -> None:
    result = plan("--gpus", "2x8xH100")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    order = [lines.index(line) for line in (
        "  ray start --head --port 6379",
        "  ray start --address $HEAD_IP:6379",
    )]
    serve = next(n for n, line in enumerate(lines) if line.startswith(f"  vllm serve {SCOUT} "))
    run = next(n for n, line in enumerate(lines) if line.startswith("  longread ask "))
    assert order[0] < order[1] < serve < run
    assert "layout: tensor parallel 8 within a node, 2 pipeline stages (one a node); 16 GPUs" \
        in lines
    flags = shlex.split(lines[serve])
    assert flags[flags.index("--tensor-parallel-size") + 1] == "8"
    assert flags[flags.index("--pipeline-parallel-size") + 1] == "2"
    assert flags[flags.index("--distributed-executor-backend") + 1] == "ray"
    assert lines[run] == (f"  longread ask --backend openai --base-url http://$HEAD_IP:8000/v1 "
                          f"--model {SCOUT} --concurrency 2 PATH \"QUESTION\"")


def test_a_model_one_node_holds_gets_a_replica_per_node() -> None:
    data = plan_json("--model", "smollm2", "--gpus", "2x8xH100", "--max-num-seqs", "8")
    assert (data["tensor_parallel_size"], data["pipeline_parallel_size"],
            data["data_parallel_size"]) == (3, 1, 2)  # 9 heads: TP 3; one replica a node
    serve = data["launch"]["head"][1]
    assert "--data-parallel-size 2 --data-parallel-backend ray" in serve
    assert "--pipeline-parallel-size" not in serve
    assert data["launch"]["concurrency"] == 16 and "--concurrency 16 " in data["launch"]["longread"]


def test_one_node_needs_no_ray() -> None:
    data = plan_json("--gpus", "8xH200")
    assert data["launch"]["workers"] == [] and len(data["launch"]["head"]) == 1
    assert "ray" not in data["launch"]["head"][0]
    assert "--base-url http://127.0.0.1:8000/v1" in data["launch"]["longread"]


def test_replicas_of_two_stages_hold_what_one_two_node_pipeline_holds() -> None:
    four = plan_json("--gpus", "4x8xH100", "--pipeline-parallel-size", "2")
    two = plan_json("--gpus", "2x8xH100")
    assert (four["pipeline_parallel_size"], four["data_parallel_size"]) == (2, 2)
    assert four["gpus_used"] == 32 and four["max_model_len"] == two["max_model_len"]
    assert four["launch"]["concurrency"] == 4  # 2 replicas x 2 stages x 1 sequence
    assert "--distributed-executor-backend ray --data-parallel-backend ray" in \
        four["launch"]["head"][1]


@pytest.mark.parametrize(("args", "message"), [
    (("--gpus", "2x8xH100", "--tensor-parallel-size", "3"),
     "--tensor-parallel-size 3 does not divide the model's 40 attention heads and 8 KV heads: "
     "choose 1, 2, 4, 8, 40"),
    (("--gpus", "2x8xH100", "--tensor-parallel-size", "16"),
     "--tensor-parallel-size 16 is more than the 8 GPUs of a node: tensor parallelism stays "
     "within a node (pipeline stages or replicas span nodes)"),
    (("--gpus", "5x8xH100"),
     "5 nodes cannot each hold one pipeline stage of the model's 48 layers: use a node count "
     "that divides them, or choose --pipeline-parallel-size and --data-parallel-size"),
    (("--gpus", "5x8xH100", "--pipeline-parallel-size", "5"),
     "--pipeline-parallel-size 5 does not divide the model's 48 layers: choose 1, 2, 3, 4, 6, "
     "8, 12, 16, 24, 48"),
    (("--gpus", "4x8xH100", "--pipeline-parallel-size", "3"),
     "across 4 nodes, --pipeline-parallel-size x --data-parallel-size must be 4 (each node one "
     "pipeline stage of one replica), not 3 x 1"),
    (("--gpus", "8xH200", "--data-parallel-size", "2"),
     "tensor x pipeline x data parallel sizes 8 x 1 x 2 need 16 GPUs; --gpus 8xH200 has 8"),
])
def test_a_layout_the_model_or_the_gpus_cannot_take_is_one_line_exit_2(
    args: tuple[str, ...], message: str
) -> None:
    result = plan(*args)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"longread: error: {message}"] and result.stdout == ""


@pytest.mark.vllm
def test_the_printed_serve_line_parses_with_vllms_own_arguments() -> None:
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    data = plan_json("--gpus", "4x8xH100", "--pipeline-parallel-size", "2")
    words = shlex.split(data["launch"]["head"][1])
    assert words[:2] == ["vllm", "serve"]
    args = make_arg_parser(FlexibleArgumentParser()).parse_args(words[2:])
    assert args.model_tag == SCOUT and args.port == 8000
    assert (args.tensor_parallel_size, args.pipeline_parallel_size, args.data_parallel_size) == (
        8, 2, 2)
    assert args.distributed_executor_backend == args.data_parallel_backend == "ray"
    assert args.max_model_len == data["max_model_len"]
