"""Every option that chooses or drives the model, declared once: `EngineOptions`' fields.

Each field is one option: its name, type and default are the field's; `option(...)` adds the
help, whether it changes answers (then it is part of the answer-cache identity: the backend's
identity for a backend's argument, the sampling for max_tokens and temperature) and which
backends take it as a keyword argument. From this one declaration come the click flags
(`--max-model-len`), the LONGREAD_* environment (`LONGREAD_MAX_MODEL_LEN`), the longread.toml
keys (`max-model-len` or `max_model_len`), the arguments each backend is built with, and the
vLLM options that name its answers. `backend` and `model` choose the backend and its model.
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field, fields
from typing import Any

VLLM, OPENAI = "vllm", "openai"
PRESET_OR_VLLM = "the model preset's, else vLLM's"


@dataclass(frozen=True)
class OptionSpec:
    """What the declaration says of one option beyond its name, type and default."""

    help: str
    answer_changing: bool = False
    backends: tuple[str, ...] = ()  # the backends built with it as a keyword argument
    cli: bool = True  # a flag on every job that calls a model (else only env and toml)
    default_note: str = ""  # --help's [default: ...] where the default value says nothing


def option(default: Any, help: str, **spec: Any) -> Any:
    """One declared option: a dataclass field whose metadata is its OptionSpec."""
    return field(default=default, metadata={"option": OptionSpec(help, **spec)})


def vllm_option(default: Any, help: str, *, answer_changing: bool = False,
                default_note: str = PRESET_OR_VLLM) -> Any:
    """An `LLM(...)` argument of the in-process backend; unset, the preset's or vLLM's default."""
    return option(default, help, answer_changing=answer_changing, backends=(VLLM,),
                  default_note=default_note)


@dataclass(frozen=True)
class EngineOptions:
    """The backend, the model, sampling, the OpenAI-compatible server's and vLLM's options.

    0 / "" / None for a vLLM option mean "the model preset's value, else vLLM's default".
    """

    backend: str = option(VLLM, "vllm or openai", answer_changing=True)
    model: str = option(
        "", "Model preset, directory or server model name", answer_changing=True,
        default_note="the embedded smollm2, or the server's only model")
    base_url: str = option("http://127.0.0.1:8000/v1", "OpenAI-compatible server URL",
                           answer_changing=True, backends=(OPENAI,))
    api_key_env: str = option("OPENAI_API_KEY", "The variable that holds the server's API key",
                              backends=(OPENAI,), cli=False)
    timeout: float = option(600.0, "Seconds to wait for one reply of the server",
                            backends=(OPENAI,), cli=False)
    max_retries: int = option(4, "Retries of a request the server failed", backends=(OPENAI,),
                              cli=False)
    concurrency: int = option(
        8, "Requests kept in flight to the server (--backend openai; the in-process engine "
           "batches by itself)", backends=(OPENAI,))
    context_window: int = option(
        0, "Server's context window when it does not report one", answer_changing=True,
        backends=(OPENAI,), default_note="what the server reports")
    max_tokens: int = option(512, "Answer reserve in tokens", answer_changing=True)
    temperature: float = option(0.0, "Sampling temperature", answer_changing=True)
    tensor_parallel_size: int = vllm_option(0, "vLLM tensor parallelism", answer_changing=True)
    pipeline_parallel_size: int = vllm_option(0, "vLLM pipeline parallelism",
                                              answer_changing=True)
    max_model_len: int = vllm_option(0, "vLLM context window", answer_changing=True)
    gpu_memory_utilization: float = vllm_option(0.0, "vLLM GPU memory share")
    kv_cache_dtype: str = vllm_option("", "vLLM KV cache dtype (e.g. fp8)", answer_changing=True)
    quantization: str = vllm_option("", "vLLM quantization method", answer_changing=True)
    dtype: str = vllm_option(
        "", "vLLM weights dtype", answer_changing=True,
        default_note="the model preset's; on a CPU bfloat16 if it has bf16 instructions, else "
                     "float32")
    enforce_eager: bool | None = vllm_option(None, "vLLM eager mode", answer_changing=True)
    max_num_batched_tokens: int = vllm_option(0, "vLLM scheduler batch size")


def declared() -> tuple[Field[Any], ...]:
    """The declared options in declaration order (each field's metadata holds its OptionSpec)."""
    return fields(EngineOptions)


def spec_of(declared_field: Field[Any]) -> OptionSpec:
    spec: OptionSpec = declared_field.metadata["option"]
    return spec


def backend_options(backend: str) -> tuple[str, ...]:
    """The options `backend` is built with, as keyword arguments of the same names."""
    return tuple(f.name for f in declared() if backend in spec_of(f).backends)


def answer_changing(backend: str) -> tuple[str, ...]:
    """The options of `backend` that change its answers: part of its cache identity."""
    return tuple(f.name for f in declared()
                 if backend in spec_of(f).backends and spec_of(f).answer_changing)


def env_var(name: str) -> str:
    """The environment variable of a setting: LONGREAD_MAX_MODEL_LEN."""
    return f"LONGREAD_{name.upper()}"


def toml_keys(name: str) -> tuple[str, ...]:
    """The config file's keys for a setting: max_model_len, or max-model-len as a flag spells it."""
    return (name, name.replace("_", "-"))


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")
