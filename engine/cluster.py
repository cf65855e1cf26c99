"""What to run for a plan: Ray across the nodes, one `vllm serve` behind one URL, and the longread
command that keeps the cluster busy.

vLLM does the distribution: Ray places the pipeline stages or the data-parallel replicas on the
nodes, and the server batches whatever is in flight. longread only needs the URL and enough
requests in flight: every sequence the cluster can run at once (`--concurrency`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from longread.engine.planner import CapacityPlan, describe, serve_command

RAY_PORT = 6379  # Ray's default GCS port
SERVE_PORT = 8000  # vllm serve's default
HEAD = "$HEAD_IP"  # the head node's address, as the user's shell will have it


@dataclass(frozen=True)
class Launch:
    """The commands, in order: on the head node, on every other node, then longread anywhere."""

    head: tuple[str, ...]
    workers: tuple[str, ...]
    longread: str
    concurrency: int


def in_flight(plan: CapacityPlan) -> int:
    """Sequences the cluster runs at once: each replica's pipeline stages each hold a batch."""
    return plan.max_num_seqs * plan.pipeline_parallel_size * plan.data_parallel_size


def launch(plan: CapacityPlan) -> Launch:
    serve = f"{serve_command(plan)} --port {SERVE_PORT}"
    concurrency = in_flight(plan)
    host = HEAD if plan.gpus.nodes > 1 else "127.0.0.1"
    longread = (f"longread ask --backend openai --base-url http://{host}:{SERVE_PORT}/v1 "
                f"--model {plan.source} --concurrency {concurrency} PATH \"QUESTION\"")
    if plan.gpus.nodes == 1:
        return Launch((serve,), (), longread, concurrency)
    head = (f"ray start --head --port {RAY_PORT}", serve)
    return Launch(head, (f"ray start --address {HEAD}:{RAY_PORT}",), longread, concurrency)


def layout_line(plan: CapacityPlan) -> str:
    tp, pp, dp = (plan.tensor_parallel_size, plan.pipeline_parallel_size,
                  plan.data_parallel_size)
    parts = [f"tensor parallel {tp} within a node"]
    if pp > 1:
        parts.append(f"{pp} pipeline stages" + (" (one a node)" if plan.gpus.nodes > 1 else ""))
    if dp > 1:
        parts.append(f"{dp} data-parallel replicas, each with its own KV cache")
    return f"layout: {', '.join(parts)}; {plan.gpus_used} GPUs"


def describe_launch(plan: CapacityPlan) -> list[str]:
    """The plan's arithmetic, then the commands to run, as a person reads them top-down."""
    steps = launch(plan)
    lines = [*describe(plan), "", layout_line(plan)]
    if steps.workers:
        others = plan.gpus.nodes - 1
        lines += [f"on the head node ({HEAD}):", f"  {steps.head[0]}",
                  f"on each of the other {others} node(s):", *(f"  {c}" for c in steps.workers),
                  "then on the head node:", *(f"  {c}" for c in steps.head[1:])]
    else:
        lines += ["on the node:", *(f"  {c}" for c in steps.head)]
    lines += [f"then longread, {steps.concurrency} request(s) in flight:", f"  {steps.longread}"]
    return lines


def plan_json(plan: CapacityPlan) -> dict[str, Any]:
    """`longread plan --json`: the figures, the settings and the commands."""
    return {**plan.to_dict(), "launch": asdict(launch(plan))}
