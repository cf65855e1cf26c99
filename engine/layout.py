"""How a model is split over GPUs: tensor parallel within a node, pipeline stages or data-parallel
replicas across nodes, each size checked against the model's heads and layers before any launch."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from longread.engine.architecture import Architecture, check_parallelism, tensor_parallel_fits
from longread.ingest.errors import UsageError

if TYPE_CHECKING:
    from longread.engine.planner import GpuSet

Layout = tuple[int, int, int]  # tensor, pipeline, data parallel sizes


def choose_layout(arch: Architecture, gpus: GpuSet, wanted: Layout,
                  one_node_fits: Callable[[], bool]) -> Layout:
    """TP within a node; across nodes, PP x DP = nodes (each node one stage of one replica).
    Sizes the model cannot be split into, or that need more GPUs than given, are one line."""
    tp, pp, dp = wanted
    if tp > gpus.per_node:
        raise UsageError(
            f"--tensor-parallel-size {tp} is more than the {gpus.per_node} GPUs of a node: "
            "tensor parallelism stays within a node (pipeline stages or replicas span nodes)"
        )
    if gpus.nodes == 1:
        pp, dp = pp or 1, dp or 1
        if tp * pp * dp > gpus.per_node:
            raise UsageError(f"tensor x pipeline x data parallel sizes {tp} x {pp} x {dp} need "
                             f"{tp * pp * dp} GPUs; --gpus {gpus.label} has {gpus.per_node}")
    else:
        chosen = not pp and not dp
        pp, dp = _across_nodes(gpus.nodes, pp, dp, one_node_fits)
        if chosen and arch.layers % pp:
            raise UsageError(
                f"{gpus.nodes} nodes cannot each hold one pipeline stage of the model's "
                f"{arch.layers} layers: use a node count that divides them, or choose "
                "--pipeline-parallel-size and --data-parallel-size"
            )
    check_parallelism(arch, tensor=tp, pipeline=pp)
    return tp, pp, dp


def _across_nodes(nodes: int, pp: int, dp: int, one_node_fits: Callable[[], bool]) -> tuple[
        int, int]:
    if pp and not dp:
        dp = nodes // pp
    elif dp and not pp:
        pp = nodes // dp
    elif not pp and not dp:
        pp, dp = (1, nodes) if one_node_fits() else (nodes, 1)
    if pp * dp != nodes:
        raise UsageError(
            f"across {nodes} nodes, --pipeline-parallel-size x --data-parallel-size must be "
            f"{nodes} (each node one pipeline stage of one replica), not {pp} x {dp}"
        )
    return pp, dp


def widest_tensor_parallel(arch: Architecture, gpus_per_node: int) -> int:
    """The largest TP <= the GPUs of a node that vLLM accepts: it divides the attention heads,
    and the KV heads divide it or it divides them (vLLM replicates KV heads past their count)."""
    for tp in range(gpus_per_node, 0, -1):
        if tensor_parallel_fits(arch, tp):
            return tp
    return 1
