"""What the capacity planner needs of a model, read from its config.json — never typed by hand.

A model directory, a hub id in the Hugging Face cache and a preset all go through the same reader;
a preset's config ships as package data (`engine/presets/<name>.json`, the real config's fields
plus its parameter count). Llama 4 nests the language model under `text_config`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from longread.engine.models import ModelSpec, hub_cached
from longread.ingest.errors import UsageError

_WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pt")
_DEFAULT_NOPE_INTERVAL = 4  # Llama 4: every 4th layer is a global (NoPE) layer


@dataclass(frozen=True)
class Architecture:
    """The config fields that size weights and KV cache (Hugging Face names in comments)."""

    layers: int  # num_hidden_layers
    attention_heads: int  # num_attention_heads
    kv_heads: int  # num_key_value_heads
    head_dim: int  # head_dim, else hidden_size / num_attention_heads
    weights_bytes: float  # the checkpoint's size (every expert counts: all are resident)
    context_limit: int  # max_position_embeddings
    global_layers: int  # layers that attend to the whole context (the rest: one chunk back)
    attention_chunk_size: int = 0  # span of the chunked local layers (0: none)


def architecture_of(spec: ModelSpec) -> Architecture:
    """The architecture of a preset, a model directory, or a hub id already in the HF cache."""
    config, weights = _config_of(spec)
    if config is None:
        raise UsageError(
            f"no config.json for {spec.source} in the Hugging Face cache: download the model "
            "(or its config.json) first, or plan a model directory or a preset"
        )
    return read_architecture(config, weights)


def shape_of(spec: ModelSpec) -> Architecture | None:
    """Layers and heads without the weights' size; None when no config.json is at hand."""
    config, _ = _config_of(spec)
    return read_architecture(config, 0.0) if config is not None else None


def _config_of(spec: ModelSpec) -> tuple[dict[str, Any] | None, float | None]:
    if spec.preset:
        text = resources.files("longread.engine").joinpath(f"presets/{spec.name}.json")
        return json.loads(text.read_text(encoding="utf-8")), None
    source = Path(spec.source)
    if source.is_dir():
        return _load(source / "config.json"), _weights_in(source)
    config = hub_cached(spec.source, "config.json")
    if config is None:
        return None, None
    index = hub_cached(spec.source, "model.safetensors.index.json")
    total = _load(index).get("metadata", {}).get("total_size") if index else None
    return _load(config), float(total) if total else None


def tensor_parallel_fits(arch: Architecture, size: int) -> bool:
    """vLLM's rule: the size divides the attention heads, and divides the KV heads or is a
    multiple of them (KV heads are then replicated)."""
    kv_ok = arch.kv_heads % size == 0 or size % arch.kv_heads == 0
    return size >= 1 and arch.attention_heads % size == 0 and kv_ok


def check_parallelism(arch: Architecture, *, tensor: int, pipeline: int) -> None:
    """One line for parallel sizes the model cannot be split into (vLLM fails deep inside)."""
    if tensor < 1 or pipeline < 1:
        raise UsageError("--tensor-parallel-size and --pipeline-parallel-size must be at least 1")
    if not tensor_parallel_fits(arch, tensor):
        sizes = [n for n in range(1, arch.attention_heads + 1) if tensor_parallel_fits(arch, n)]
        raise UsageError(
            f"--tensor-parallel-size {tensor} does not divide the model's {arch.attention_heads} "
            f"attention heads and {arch.kv_heads} KV heads: choose "
            f"{', '.join(map(str, sizes))}"
        )
    if arch.layers % pipeline:
        sizes = [n for n in range(1, arch.layers + 1) if arch.layers % n == 0]
        raise UsageError(
            f"--pipeline-parallel-size {pipeline} does not divide the model's {arch.layers} "
            f"layers: choose {', '.join(map(str, sizes))}"
        )


def read_architecture(
    config: Mapping[str, Any], weights_bytes: float | None = None
) -> Architecture:
    """Fields of `config` (or of its `text_config`); weights from the files, else parameters."""
    text = config.get("text_config") or config
    try:
        layers = int(text["num_hidden_layers"])
        heads = int(text["num_attention_heads"])
        kv_heads = int(text.get("num_key_value_heads") or heads)
        head_dim = int(text.get("head_dim") or int(text["hidden_size"]) // heads)
        limit = int(text["max_position_embeddings"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"config.json lacks a field the planner needs: {exc}") from exc
    if weights_bytes is None:
        weights_bytes = _declared_weights(config)
    chunk = int(text.get("attention_chunk_size") or 0)
    return Architecture(
        layers=layers, attention_heads=heads, kv_heads=kv_heads, head_dim=head_dim,
        weights_bytes=weights_bytes, context_limit=limit,
        global_layers=_global_layers(text, layers) if chunk else layers,
        attention_chunk_size=chunk,
    )


def _global_layers(text: Mapping[str, Any], layers: int) -> int:
    """Llama 4: `no_rope_layers` marks the global layers with 0; else every n-th layer is one."""
    marks = text.get("no_rope_layers")
    if isinstance(marks, list) and len(marks) == layers:
        return sum(1 for mark in marks if not mark)
    return layers // int(text.get("no_rope_layer_interval") or _DEFAULT_NOPE_INTERVAL)


def _declared_weights(config: Mapping[str, Any]) -> float:
    parameters, width = config.get("parameters"), config.get("bytes_per_parameter")
    if not parameters or not width:
        raise UsageError("cannot tell the size of the weights: no weight files next to config.json")
    return float(parameters) * float(width)


def _weights_in(folder: Path) -> float | None:
    """Bytes of the weight files (the safetensors index's total when there is one)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        total = _load(index).get("metadata", {}).get("total_size")
        if total:
            return float(total)
    sizes = [path.stat().st_size for pattern in _WEIGHT_FILES for path in folder.glob(pattern)]
    return float(sum(sizes)) if sizes else None


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a JSON object")
    return data
