"""How many context tokens fit on a set of GPUs, worked out before anyone launches anything.

The KV cache gets what vLLM leaves after the weights and its per-GPU reserve:
`gpus x (memory x utilisation - reserve) - weights`. Each token costs K and V for every layer that
keeps it. Llama 4 attends globally on every 4th layer only; the other layers look back at most one
8,192-token chunk, but vLLM keeps them full-length unless its hybrid KV cache manager is on.
The architecture comes from the model's config.json (`engine/architecture.py`).

The reserve (activations at the batched-token peak, logits, CUDA graphs, NCCL buffers) is not
derived: it is ONE calibrated number, 18 GiB per GPU, fitted so Scout on 8xH200 gives vLLM's
published 3.6M tokens (3,625,515 KV tokens, +1%). Against the figures it was not fitted to, the
same arithmetic gives 1,234,762 on 8xH100 (published 1.0M: +23%) and 3,625,515 on 8xH200 (a field
report without hybrid KV: 2.94M, +23%). For models other than Llama 4 it is an assumption.
`longread plan` prints these errors with every plan, computed live by `calibration_report`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from longread.engine.architecture import Architecture, architecture_of
from longread.engine.errors import PromptTooLong
from longread.engine.layout import Layout, choose_layout, widest_tensor_parallel
from longread.engine.models import ModelSpec, resolve_model
from longread.ingest.errors import UsageError

GIB = 1 << 30
KIB = 1 << 10
MAX_NODES = 16
GPUS_PER_NODE = 8

# Total memory per GPU as the driver reports it (nvidia-smi MiB / 1024), in GiB.
GPU_MEMORY_GIB: dict[str, float] = {
    "H100": 79.6, "H200": 140.4, "B200": 179.1, "GH200": 94.5, "A100": 79.6, "A100-80": 79.6,
    "A100-40": 39.4, "L40S": 45.0, "L40": 45.0, "L4": 22.5, "A10G": 22.5, "MI300X": 192.0,
}
_KV_BYTES = {"auto": 2, "bfloat16": 2, "float16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1}
_GPUS = re.compile(r"^(?:(\d+)x)?(?:(\d+)x)?([a-z0-9-]+)$")


@dataclass(frozen=True)
class Datapoint:
    """A published or reported max-model-len for Scout (BF16, one request, hybrid KV off)."""

    gpus: str
    max_model_len: int
    source: str


RESERVE_GIB = 18.0  # per GPU; a calibration, see the module docstring
CALIBRATION_MODEL = "llama-4-scout"
FITTED_TO = Datapoint("8xH200", 3_600_000, "vLLM's Llama 4 announcement")
OUT_OF_SAMPLE = (
    Datapoint("8xH100", 1_000_000, "vLLM's Llama 4 announcement"),
    Datapoint("8xH200", 2_940_000, "a field report, hybrid KV off"),
)


@dataclass(frozen=True)
class GpuSet:
    name: str
    memory_gib: float
    nodes: int
    per_node: int

    @property
    def count(self) -> int:
        return self.nodes * self.per_node

    @property
    def label(self) -> str:
        prefix = f"{self.nodes}x" if self.nodes > 1 else ""
        return f"{prefix}{self.per_node}x{self.name}"


@dataclass(frozen=True)
class CapacityPlan:
    """The arithmetic and its verdict: `max_model_len` is what one request may use."""

    model: str
    source: str
    gpus: GpuSet
    tensor_parallel_size: int  # within a node; may leave GPUs idle when heads do not divide
    pipeline_parallel_size: int  # stages of one replica (one per node across nodes)
    data_parallel_size: int  # replicas, each with its own weights and KV cache
    attention_heads: int
    kv_heads: int
    kv_cache_dtype: str
    hybrid_kv: bool
    gpu_memory_utilization: float
    max_num_seqs: int
    weights_gib: float
    reserve_gib: float
    kv_pool_gib: float  # per replica
    kv_bytes_per_token: int  # per token that grows with the context (whole model)
    growing_layers: int  # layers whose KV grows with the context (all, or the global ones)
    kv_tokens: int  # tokens one replica's pool holds across its sequences
    max_model_len: int
    context_limit: int
    published: int | None  # vLLM's published max-model-len for this GPU setup, if any

    @property
    def gpus_used(self) -> int:
        return self.tensor_parallel_size * self.pipeline_parallel_size * self.data_parallel_size

    @property
    def fits_full_context(self) -> bool:
        return self.max_model_len >= self.context_limit

    def to_dict(self) -> dict[str, Any]:
        """The figures plus what to run (`--json` output)."""
        return {**asdict(self), "fits_full_context": self.fits_full_context,
                "gpus_used": self.gpus_used, "reserve_per_gpu_gib": RESERVE_GIB,
                "serve_command": serve_command(self), "llm_settings": vllm_settings(self)}


def parse_gpus(text: str) -> GpuSet:
    """`8xH200` (one node of 8), `2x8xH100` (two nodes of 8), `H100` (one GPU)."""
    match = _GPUS.match(text.strip().lower())
    name = match.group(3).upper() if match else ""
    if not match or name not in GPU_MEMORY_GIB:
        known = ", ".join(sorted(GPU_MEMORY_GIB))
        raise UsageError(f"cannot read --gpus {text!r}: write e.g. 8xH200 or 2x8xH100 ({known})")
    first, second = match.group(1), match.group(2)
    nodes, per_node = (int(first), int(second)) if second else (1, int(first or 1))
    if nodes < 1 or per_node < 1:
        raise UsageError(f"--gpus {text!r}: counts must be at least 1")
    return GpuSet(name=name, memory_gib=GPU_MEMORY_GIB[name], nodes=nodes, per_node=per_node)


def plan_capacity(
    model: str,
    gpus: str,
    *,
    kv_cache_dtype: str = "auto",
    hybrid_kv: bool = False,
    gpu_memory_utilization: float = 0.9,
    max_num_seqs: int = 1,
    models_dir: Path = Path("models"),
    tensor_parallel_size: int = 0,
    pipeline_parallel_size: int = 0,
    data_parallel_size: int = 0,
) -> CapacityPlan:
    """Context tokens that fit `model` on `gpus`; a setup vLLM cannot run is a UsageError.
    Parallel sizes of 0 are chosen: TP as large as a node and the heads allow; across nodes,
    data-parallel replicas when one node holds the full context, else one pipeline stage a node."""
    if kv_cache_dtype not in _KV_BYTES:
        raise UsageError(f"unknown --kv-cache-dtype {kv_cache_dtype!r}: {', '.join(_KV_BYTES)}")
    if not 0 < gpu_memory_utilization <= 1:
        raise UsageError("--gpu-memory-utilization must be in (0, 1]")
    if max_num_seqs < 1:
        raise UsageError("--max-num-seqs must be at least 1")
    spec = resolve_model(model, models_dir)
    arch = architecture_of(spec)
    gpu_set = parse_gpus(gpus)

    def plan_for(layout: Layout) -> CapacityPlan:
        return _plan(spec, arch, gpu_set, layout, kv_cache_dtype, hybrid_kv,
                     gpu_memory_utilization, max_num_seqs)

    tp = tensor_parallel_size or widest_tensor_parallel(arch, gpu_set.per_node)
    one_node_fits = lambda: plan_for((tp, 1, 1)).fits_full_context  # noqa: E731
    layout = choose_layout(arch, gpu_set, (tp, pipeline_parallel_size, data_parallel_size),
                           one_node_fits)
    plan = plan_for(layout)
    _refuse_impossible(plan, arch)
    return plan


def _plan(spec: ModelSpec, arch: Architecture, gpus: GpuSet, layout: Layout,
          kv_cache_dtype: str, hybrid_kv: bool, utilization: float,
          max_num_seqs: int) -> CapacityPlan:
    tp, pp, dp = layout
    replica = tp * pp  # the GPUs holding one copy of the weights and its KV cache
    weights = arch.weights_bytes / GIB
    reserve = replica * RESERVE_GIB
    pool = replica * gpus.memory_gib * utilization - reserve - weights
    per_layer = arch.kv_heads * arch.head_dim * 2 * _KV_BYTES[kv_cache_dtype]
    growing, fixed = _layer_split(arch, hybrid_kv)
    free = max(pool * GIB - fixed * per_layer * max_num_seqs, 0.0)
    kv_tokens = int(free // (growing * per_layer))
    per_request = min(kv_tokens // max_num_seqs, arch.context_limit)
    return CapacityPlan(
        model=spec.name, source=spec.source, gpus=gpus, tensor_parallel_size=tp,
        pipeline_parallel_size=pp, data_parallel_size=dp,
        attention_heads=arch.attention_heads, kv_heads=arch.kv_heads,
        kv_cache_dtype=kv_cache_dtype, hybrid_kv=hybrid_kv, gpu_memory_utilization=utilization,
        max_num_seqs=max_num_seqs, weights_gib=round(weights, 1), reserve_gib=round(reserve, 1),
        kv_pool_gib=round(pool, 1), kv_bytes_per_token=growing * per_layer,
        growing_layers=growing, kv_tokens=kv_tokens,
        max_model_len=_round_down(per_request, arch.context_limit),
        context_limit=arch.context_limit,
        published=_published(spec, gpus, kv_cache_dtype, hybrid_kv, max_num_seqs),
    )


def _refuse_impossible(plan: CapacityPlan, arch: Architecture) -> None:
    """One line for a setup vLLM cannot start: weights over memory, or no room for one token."""
    where = f"{plan.gpus_used} {plan.gpus.name}"
    if plan.kv_pool_gib <= 0:
        raise UsageError(
            f"{plan.model} does not fit on {where}: {plan.weights_gib} GiB of weights plus "
            f"{plan.reserve_gib} GiB reserve exceed {plan.gpu_memory_utilization:g} of the memory; "
            f"{_minimum_gpus(arch, plan)}"
        )
    if plan.max_model_len <= 0:
        raise UsageError(
            f"{plan.model} on {where} leaves {plan.kv_pool_gib} GiB for the KV cache, not one "
            f"token per sequence at {plan.kv_bytes_per_token / KIB:g} KiB/token: "
            f"{_minimum_gpus(arch, plan)}"
        )


def _minimum_gpus(arch: Architecture, plan: CapacityPlan) -> str:
    """The smallest --gpus of the same type that leaves KV room for the request."""
    layouts = [(1, n) for n in range(1, GPUS_PER_NODE + 1)]
    layouts += [(nodes, GPUS_PER_NODE) for nodes in range(2, MAX_NODES + 1)]
    for nodes, per_node in layouts:
        gpus = replace(plan.gpus, nodes=nodes, per_node=per_node)
        spec = ModelSpec(name=plan.model, source=plan.source)
        layout = (widest_tensor_parallel(arch, per_node), nodes, 1)  # capacity first: PP a node
        other = _plan(spec, arch, gpus, layout, plan.kv_cache_dtype, plan.hybrid_kv,
                      plan.gpu_memory_utilization, plan.max_num_seqs)
        if other.max_model_len > 0:
            return f"use at least {other.gpus_used} (--gpus {gpus.label})"
    return f"no setup of up to {MAX_NODES} nodes of {GPUS_PER_NODE}x{plan.gpus.name} is enough"


def _layer_split(arch: Architecture, hybrid_kv: bool) -> tuple[int, int]:
    """(layers whose KV grows with the context, layer-tokens held per sequence regardless)."""
    if not hybrid_kv or not arch.attention_chunk_size:
        return arch.layers, 0
    local_layers = arch.layers - arch.global_layers
    return arch.global_layers, local_layers * arch.attention_chunk_size


def _published(spec: ModelSpec, gpus: GpuSet, kv_cache_dtype: str, hybrid_kv: bool,
               max_num_seqs: int) -> int | None:
    default_setup = gpus.nodes == 1 and gpus.per_node == spec.tensor_parallel_size
    if not default_setup or hybrid_kv or _KV_BYTES[kv_cache_dtype] != 2 or max_num_seqs != 1:
        return None
    return dict(spec.max_model_len_by_gpu).get(gpus.name)


def _round_down(tokens: int, limit: int) -> int:
    """A max-model-len worth typing: two significant digits, never rounded up; the limit as is."""
    if tokens < 1024 or tokens == limit:
        return tokens
    step = 10 ** (len(str(tokens)) - 2)
    return tokens // step * step


def calibration_report() -> list[str]:
    """The reserve as what it is: fitted to one published figure, off by this much on the rest."""
    lines = []
    for point in (FITTED_TO, *OUT_OF_SAMPLE):
        planned = plan_capacity(CALIBRATION_MODEL, point.gpus).kv_tokens
        error = (planned - point.max_model_len) / point.max_model_len
        role = "fitted to" if point is FITTED_TO else "checked against"
        lines.append(f"  {role} {point.gpus} {point.max_model_len:,} ({point.source}): "
                     f"planned {planned:,} ({error:+.0%})")
    return lines


def alternatives(plan: CapacityPlan) -> list[tuple[str, CapacityPlan]]:
    """What each lever buys when the full context does not fit: fp8 KV, hybrid KV, more nodes."""
    same = (plan.tensor_parallel_size, plan.pipeline_parallel_size, plan.data_parallel_size)

    def again(gpus: GpuSet, kv: str, hybrid: bool, layout: Layout = (0, 0, 0)) -> CapacityPlan:
        tp, pp, dp = layout
        return plan_capacity(plan.model, gpus.label, kv_cache_dtype=kv, hybrid_kv=hybrid,
                             gpu_memory_utilization=plan.gpu_memory_utilization,
                             max_num_seqs=plan.max_num_seqs, models_dir=_models_dir(plan),
                             tensor_parallel_size=tp, pipeline_parallel_size=pp,
                             data_parallel_size=dp)

    options = []
    if _KV_BYTES[plan.kv_cache_dtype] == 2:
        options.append(("--kv-cache-dtype fp8", again(plan.gpus, "fp8", plan.hybrid_kv, same)))
    if not plan.hybrid_kv and plan.growing_layers > 0:
        hybrid = again(plan.gpus, plan.kv_cache_dtype, True, same)
        if hybrid.growing_layers < plan.growing_layers:
            options.append(("--hybrid-kv", hybrid))
    for nodes in range(plan.gpus.nodes + 1, MAX_NODES + 1):
        try:
            more = again(replace(plan.gpus, nodes=nodes), plan.kv_cache_dtype, plan.hybrid_kv)
        except UsageError:  # e.g. a node count that does not divide the layers
            continue
        if more.fits_full_context:
            options.append((f"{nodes} nodes of {plan.gpus.per_node}x{plan.gpus.name}", more))
            break
    return options


def _models_dir(plan: CapacityPlan) -> Path:
    """Where the embedded model lives, so a re-plan resolves the same source."""
    source = Path(plan.source)
    return source.parent if source.is_absolute() else Path("models")


def vllm_settings(plan: CapacityPlan) -> dict[str, Any]:
    """The `LLM(...)` keyword arguments (and `vllm serve` flags) that realise the plan."""
    settings: dict[str, Any] = {
        "tensor_parallel_size": plan.tensor_parallel_size,
        "max_model_len": plan.max_model_len,
        "gpu_memory_utilization": plan.gpu_memory_utilization,
        "enable_prefix_caching": True,
        "max_num_seqs": plan.max_num_seqs,
        "disable_hybrid_kv_cache_manager": not plan.hybrid_kv,
    }
    if plan.pipeline_parallel_size > 1:
        settings["pipeline_parallel_size"] = plan.pipeline_parallel_size
    if plan.data_parallel_size > 1:
        settings["data_parallel_size"] = plan.data_parallel_size
    if plan.gpus.nodes > 1 and plan.pipeline_parallel_size > 1:  # Ray places the stages...
        settings["distributed_executor_backend"] = "ray"
    if plan.gpus.nodes > 1 and plan.data_parallel_size > 1:  # ...and the replicas on the nodes
        settings["data_parallel_backend"] = "ray"
    if plan.kv_cache_dtype != "auto":
        settings["kv_cache_dtype"] = plan.kv_cache_dtype
    return settings


def serve_command(plan: CapacityPlan) -> str:
    """The `vllm serve` line; hybrid KV also sets the switch older vLLMs default to off."""
    flags = []
    for key, value in vllm_settings(plan).items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is not False:
            flags.append(f"{flag} {value}")
    env = "VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE=1 " if plan.hybrid_kv else ""
    return f"{env}vllm serve {plan.source} " + " ".join(flags)


def check_fits(prompt_tokens: int, window: int) -> None:
    """Refuse up front, with the numbers, a prompt vLLM would reject deep inside the engine."""
    if prompt_tokens + 1 > window:
        numbers = (f"the prompt has {prompt_tokens:,} tokens but the window is {window:,} "
                   f"({prompt_tokens + 1 - window:,} over, counting one answer token)")
        raise PromptTooLong(
            f"{numbers}: lower the budget, or raise the max-model-len setting if the GPUs allow it",
            cli=f"{numbers}: lower --budget, or raise --max-model-len if the GPUs allow it "
                "(see `longread plan`)")


def describe(plan: CapacityPlan) -> list[str]:
    """The plan as lines a person can check with a pencil, then what to run."""
    gpus = plan.gpus
    lines = [
        f"{plan.model} ({plan.source}) on {gpus.label}: {gpus.count} GPU(s) of "
        f"{gpus.memory_gib} GiB, gpu_memory_utilization {plan.gpu_memory_utilization}",
    ]
    if plan.gpus_used < gpus.count:
        lines.append(
            f"tensor-parallel size {plan.tensor_parallel_size}: it must divide the "
            f"{plan.attention_heads} attention heads (and fit the {plan.kv_heads} KV heads), so "
            f"{plan.gpus_used} of {gpus.count} GPUs are used"
        )
    lines += [
        f"weights {plan.weights_gib} GiB, reserve {plan.reserve_gib} GiB "
        f"({RESERVE_GIB:g} GiB/GPU, calibrated), KV cache pool {plan.kv_pool_gib} GiB",
        f"KV per token: {plan.kv_bytes_per_token / KIB:g} KiB ({plan.growing_layers} layers "
        f"growing with the context, {plan.kv_cache_dtype} KV cache, hybrid KV manager "
        f"{'on' if plan.hybrid_kv else 'off'})",
        f"KV tokens: {plan.kv_tokens:,} for {plan.max_num_seqs} sequence(s) -> max_model_len "
        f"{plan.max_model_len:,} (model limit {plan.context_limit:,})",
    ]
    if plan.published:
        lines.append(f"vLLM's published setting for this setup: {plan.published:,}")
    if not plan.fits_full_context:
        lines += _why_not_full(plan)
    if _KV_BYTES[plan.kv_cache_dtype] == 1:
        lines.append("fp8 KV without calibrated scales can cost quality: prefer calibrated scales")
    lines += [f"the {RESERVE_GIB:g} GiB/GPU reserve is a calibration on {CALIBRATION_MODEL}, "
              "BF16, hybrid KV off:", *calibration_report()]
    return lines + ["", f"vllm serve: {serve_command(plan)}", f"LLM(...): {vllm_settings(plan)}"]


def _why_not_full(plan: CapacityPlan) -> list[str]:
    need = plan.context_limit * plan.kv_bytes_per_token / GIB
    lines = [
        f"the full {plan.context_limit:,} tokens need {need:,.0f} GiB of KV cache at "
        f"{plan.kv_bytes_per_token / KIB:g} KiB/token; {max(plan.kv_pool_gib, 0):,} GiB remain"
    ]
    for label, other in alternatives(plan):
        lines.append(f"  with {label}: max_model_len {other.max_model_len:,}")
    return lines
