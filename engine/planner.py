"""How many context tokens fit on a set of GPUs, worked out before anyone launches anything.

The KV cache gets what vLLM leaves after the weights and its activation reserve:
`gpus x (memory x utilisation - reserve) - weights`. Each token costs K and V for every layer that
keeps it. Llama 4 attends globally on every 4th layer only; the other layers look back at most one
8,192-token chunk, but vLLM keeps them full-length unless its hybrid KV cache manager is on.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from longread.engine.errors import PromptTooLong
from longread.engine.models import Architecture, ModelSpec, resolve_model
from longread.ingest.errors import UsageError

GIB = 1 << 30
KIB = 1 << 10
MAX_NODES = 16

# Total memory per GPU as the driver reports it (nvidia-smi MiB / 1024), in GiB.
GPU_MEMORY_GIB: dict[str, float] = {
    "H100": 79.6, "H200": 140.4, "B200": 179.1, "GH200": 94.5, "A100": 79.6, "A100-80": 79.6,
    "A100-40": 39.4, "L40S": 45.0, "L40": 45.0, "L4": 22.5, "A10G": 22.5, "MI300X": 192.0,
}
_KV_BYTES = {"auto": 2, "bfloat16": 2, "float16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1}
_GPUS = re.compile(r"^(?:(\d+)x)?(?:(\d+)x)?([a-z0-9-]+)$")


@dataclass(frozen=True)
class GpuSet:
    name: str
    memory_gib: float
    nodes: int
    per_node: int

    @property
    def count(self) -> int:
        return self.nodes * self.per_node


@dataclass(frozen=True)
class CapacityPlan:
    """The arithmetic and its verdict: `max_model_len` is what one request may use."""

    model: str
    source: str
    gpus: GpuSet
    kv_cache_dtype: str
    hybrid_kv: bool
    gpu_memory_utilization: float
    max_num_seqs: int
    weights_gib: float
    reserve_gib: float
    kv_pool_gib: float
    kv_bytes_per_token: int  # per token that grows with the context (whole model)
    growing_layers: int  # layers whose KV grows with the context (all, or the global ones)
    kv_tokens: int  # tokens the pool holds across all sequences
    max_model_len: int
    context_limit: int
    published: int | None  # vLLM's published max-model-len for this GPU setup, if any

    @property
    def fits_full_context(self) -> bool:
        return self.max_model_len >= self.context_limit

    def to_dict(self) -> dict[str, Any]:
        """The figures plus what to run (`--json` output)."""
        return {**asdict(self), "fits_full_context": self.fits_full_context,
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
) -> CapacityPlan:
    """Context tokens that fit `model` on `gpus` with vLLM's memory accounting."""
    spec = _spec_with_architecture(model)
    arch = spec.architecture
    assert arch is not None
    gpu_set = parse_gpus(gpus)
    if kv_cache_dtype not in _KV_BYTES:
        raise UsageError(f"unknown --kv-cache-dtype {kv_cache_dtype!r}: {', '.join(_KV_BYTES)}")
    if not 0 < gpu_memory_utilization <= 1 or max_num_seqs < 1:
        raise UsageError("--gpu-memory-utilization must be in (0, 1] and --max-num-seqs >= 1")
    weights = arch.params_billion * 1e9 * arch.weight_bytes_per_param / GIB
    reserve = gpu_set.count * arch.activation_reserve_gib
    pool = gpu_set.count * gpu_set.memory_gib * gpu_memory_utilization - reserve - weights
    per_layer = arch.kv_heads * arch.head_dim * 2 * _KV_BYTES[kv_cache_dtype]
    growing, fixed = _layer_split(arch, hybrid_kv)
    free = max(pool * GIB - fixed * per_layer * max_num_seqs, 0.0)
    kv_tokens = int(free // (growing * per_layer))
    per_request = min(kv_tokens // max_num_seqs, arch.context_limit)
    return CapacityPlan(
        model=spec.name, source=spec.source, gpus=gpu_set, kv_cache_dtype=kv_cache_dtype,
        hybrid_kv=hybrid_kv, gpu_memory_utilization=gpu_memory_utilization,
        max_num_seqs=max_num_seqs, weights_gib=round(weights, 1), reserve_gib=round(reserve, 1),
        kv_pool_gib=round(pool, 1), kv_bytes_per_token=growing * per_layer,
        growing_layers=growing, kv_tokens=kv_tokens,
        max_model_len=_round_down(per_request), context_limit=arch.context_limit,
        published=_published(spec, gpu_set, kv_cache_dtype, hybrid_kv),
    )


def _spec_with_architecture(model: str) -> ModelSpec:
    spec = resolve_model(model, Path("models"))
    if spec.architecture is None:
        raise UsageError(f"no architecture known for {model!r}: plan a preset (llama-4-scout, ...)")
    return spec


def _layer_split(arch: Architecture, hybrid_kv: bool) -> tuple[int, int]:
    """(layers whose KV grows with the context, layer-tokens held per sequence regardless)."""
    if not hybrid_kv or not arch.attention_chunk_size:
        return arch.layers, 0
    global_layers = arch.layers // arch.global_layer_interval
    return global_layers, (arch.layers - global_layers) * arch.attention_chunk_size


def _published(spec: ModelSpec, gpus: GpuSet, kv_cache_dtype: str, hybrid_kv: bool) -> int | None:
    default_setup = gpus.nodes == 1 and gpus.per_node == spec.tensor_parallel_size
    if not default_setup or hybrid_kv or _KV_BYTES[kv_cache_dtype] != 2:
        return None
    return dict(spec.max_model_len_by_gpu).get(gpus.name)


def _round_down(tokens: int) -> int:
    """A max-model-len worth typing: two significant digits, never rounded up."""
    if tokens < 1024:
        return tokens
    step = 10 ** (len(str(tokens)) - 2)
    return tokens // step * step


def alternatives(plan: CapacityPlan) -> list[tuple[str, CapacityPlan]]:
    """What each lever buys when the full context does not fit: fp8 KV, hybrid KV, more nodes."""
    def again(gpus: GpuSet, kv: str, hybrid: bool) -> CapacityPlan:
        text = f"{gpus.nodes}x{gpus.per_node}x{gpus.name}"
        return plan_capacity(plan.model, text, kv_cache_dtype=kv, hybrid_kv=hybrid,
                             gpu_memory_utilization=plan.gpu_memory_utilization,
                             max_num_seqs=plan.max_num_seqs)

    options = []
    if _KV_BYTES[plan.kv_cache_dtype] == 2:
        options.append(("--kv-cache-dtype fp8", again(plan.gpus, "fp8", plan.hybrid_kv)))
    if not plan.hybrid_kv:
        options.append(("--hybrid-kv", again(plan.gpus, plan.kv_cache_dtype, True)))
    for nodes in range(plan.gpus.nodes + 1, MAX_NODES + 1):
        more = again(replace(plan.gpus, nodes=nodes), plan.kv_cache_dtype, plan.hybrid_kv)
        if more.fits_full_context:
            options.append((f"{nodes} nodes of {plan.gpus.per_node}x{plan.gpus.name}", more))
            break
    return options


def vllm_settings(plan: CapacityPlan) -> dict[str, Any]:
    """The `LLM(...)` keyword arguments (and `vllm serve` flags) that realise the plan."""
    settings: dict[str, Any] = {
        "tensor_parallel_size": plan.gpus.per_node,
        "max_model_len": plan.max_model_len,
        "gpu_memory_utilization": plan.gpu_memory_utilization,
        "enable_prefix_caching": True,
        "max_num_seqs": plan.max_num_seqs,
        "disable_hybrid_kv_cache_manager": not plan.hybrid_kv,
    }
    if plan.gpus.nodes > 1:
        settings |= {"pipeline_parallel_size": plan.gpus.nodes,
                     "distributed_executor_backend": "ray"}
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


def check_fits(prompt_tokens: int, plan_or_window: CapacityPlan | int, *, reserve: int = 1) -> None:
    """Refuse up front, with the numbers, a prompt vLLM would reject deep inside the engine."""
    window = plan_or_window if isinstance(plan_or_window, int) else plan_or_window.max_model_len
    needed = prompt_tokens + max(reserve, 1)
    if needed > window:
        raise PromptTooLong(
            f"the prompt has {prompt_tokens:,} tokens and the answer needs {max(reserve, 1):,} "
            "more, "
            f"but the window is {window:,} ({needed - window:,} over): lower --budget, or raise "
            "--max-model-len if the GPUs allow it (see `longread plan`)"
        )


def describe(plan: CapacityPlan) -> list[str]:
    """The plan as lines a person can check with a pencil, then what to run."""
    gpus = plan.gpus
    lines = [
        f"{plan.model} ({plan.source}) on {gpus.nodes}x{gpus.per_node}x{gpus.name}: "
        f"{gpus.count} GPUs of {gpus.memory_gib} GiB, "
        f"gpu_memory_utilization {plan.gpu_memory_utilization}",
        f"weights {plan.weights_gib} GiB, vLLM reserve {plan.reserve_gib} GiB, "
        f"KV cache pool {plan.kv_pool_gib} GiB",
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
