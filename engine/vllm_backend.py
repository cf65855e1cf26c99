"""The in-process vLLM backend: one `vllm.LLM`, prefix caching on, prompts tokenized exactly once.

The chat template is applied here and vLLM receives token ids, so `count_prompt_tokens` and the
prompt length vLLM reports are the same number by construction. On a CPU, vLLM spawns its engine
in a child process: a script that builds this backend needs an `if __name__ == "__main__":` guard
(the `longread` console script has one).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import cached_property
from pathlib import Path
from typing import Any

from longread.engine.architecture import check_parallelism, shape_of
from longread.engine.backend import ChatRequest, Completion, Message
from longread.engine.errors import BackendUnavailable, PromptTooLong, first_line
from longread.engine.models import (
    ModelSpec,
    ensure_default_model,
    resolve_model,
    tokenizer_file,
    tokenizer_name,
)
from longread.engine.options import VLLM, answer_changing, backend_options
from longread.engine.planner import check_fits
from longread.ingest.private import private_file
from longread.ingest.progress import Progress, no_progress
from longread.ingest.tokens import HuggingFaceCounter, TokenCounter

# Declared in engine/options.py: the `LLM(...)` arguments (Settings fields of the same names; 0 /
# "" / None mean "the preset's value, else vLLM's default") and those that change answers (the
# others only schedule work or size memory).
ENGINE_OPTIONS = backend_options(VLLM)
_ANSWER_CHANGING = answer_changing(VLLM)
# The preset's sampling guards (a small model loops without them); part of the identity.
PRESET_SAMPLING = ("frequency_penalty", "max_tokens")
CPU_KV_CACHE_BYTES = 1 << 30  # vLLM's CPU build otherwise sizes the KV cache from one NUMA node
CPUINFO = Path("/proc/cpuinfo")
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
START_STAGE = "loading the engine"
GENERATE_STAGE = "generating"
TICK_S = 0.5
RATES_FILE = ".prefill-rates.json"
MIN_RATE_TOKENS = 512  # a short prompt's rate is mostly overhead, not prefill
EXECUTE_TIMEOUT_S = 3600
SMALL_CPU_CORES = 4
NOT_INSTALLED = (
    "vLLM is not installed: from longread's checkout, `make setup` (CPU) or pip install -e '.[gpu]'"
)


def engine_settings(
    spec: ModelSpec, options: Mapping[str, Any], cpuinfo: Path = CPUINFO
) -> dict[str, Any]:
    """`LLM(...)` keyword arguments: an option if given, else the preset's, else vLLM's default."""
    settings: dict[str, Any] = {}
    for name in ENGINE_OPTIONS:
        value = options.get(name)
        if not _given(value):
            value = getattr(spec, name, None)
        if _given(value):
            settings[name] = value
    if spec.device == "cpu":
        settings["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
        settings.setdefault("dtype", cpu_dtype(cpuinfo))
        window = settings.get("max_model_len", 0)
        if window and settings.get("max_num_batched_tokens", window) >= window:
            # The prompt in one step: faster than chunked on a CPU (docs/benchmarks.md)
            settings["enable_chunked_prefill"] = False
            settings.setdefault("max_num_batched_tokens", window)
    return settings


def cpu_dtype(cpuinfo: Path = CPUINFO) -> str:
    """bfloat16 where the CPU has bf16 instructions, else float32 (faster there than emulated
    bf16, docs/benchmarks.md); unknown CPUs get float32."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "float32"
    flags = {flag for line in text.split("\n") if line.startswith("flags")
             for flag in line.partition(":")[2].split()}
    return "bfloat16" if flags & BF16_FLAGS else "float32"


def engine_identity(spec: ModelSpec, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The answer-cache identity, known before the engine starts (a cache hit needs none)."""
    chosen = {name: settings[name] for name in _ANSWER_CHANGING if name in settings}
    sampling = {name: getattr(spec, name) for name in PRESET_SAMPLING if getattr(spec, name)}
    if "frequency_penalty" in sampling:  # applied to free-text answers only (see _sampling)
        sampling["free_text_frequency_penalty"] = sampling.pop("frequency_penalty")
    return {"backend": "vllm", "model": spec.name, "source": spec.source, **chosen, **sampling}


def check_parallel_sizes(spec: ModelSpec, settings: Mapping[str, Any]) -> None:
    """Refuse, in one line and before any engine starts, sizes the model's heads or layers do not
    divide; a hub model without a config.json at hand is left to vLLM."""
    tensor = int(settings.get("tensor_parallel_size") or 1)
    pipeline = int(settings.get("pipeline_parallel_size") or 1)
    if tensor == pipeline == 1:
        return
    shape = shape_of(spec)
    if shape is not None:
        check_parallelism(shape, tensor=tensor, pipeline=pipeline)


def cpu_binding(ranks: int, cores: Sequence[int]) -> str | None:
    """VLLM_CPU_OMP_THREADS_BIND for `ranks` CPU workers: each its own consecutive share of the
    cores ("0|1" for two on two cores), else None (vLLM's own "auto" binds by NUMA node, one rank
    per node, and fails with more ranks than nodes)."""
    ordered = sorted(cores)
    if ranks <= 1 or len(ordered) < ranks:
        return None
    share = len(ordered) // ranks
    groups = [ordered[rank * share : (rank + 1) * share] for rank in range(ranks)]
    return "|".join(",".join(map(str, group)) for group in groups)


def _given(value: Any) -> bool:
    """None, 0 and "" mean "not chosen"; False is a choice (`--no-enforce-eager`)."""
    return value is not None and (isinstance(value, bool) or value not in (0, ""))


class VllmBackend:
    """A `Backend` over `vllm.LLM`: exact token counts, one batched generate, prefix-cache usage."""

    def __init__(
        self,
        *,
        model: str = "smollm2",
        models_dir: Path | None = None,
        progress: Progress = no_progress,
        **options: Any,
    ) -> None:
        unknown = sorted(set(options) - set(ENGINE_OPTIONS))
        if unknown:
            raise TypeError(f"unknown vLLM options: {', '.join(unknown)}")
        self._spec = resolve_model(model, models_dir or Path.cwd())
        if self._spec.embedded:
            if models_dir is None:
                raise BackendUnavailable("the embedded model needs a models directory (cache dir)")
            ensure_default_model(models_dir, progress)
        self._settings = engine_settings(self._spec, options)
        check_parallel_sizes(self._spec, self._settings)
        self._progress = progress
        self._rates = PrefillRates(models_dir, self._settings.get("dtype", "auto"))
        self._llm = _start_engine(self._spec, self._settings, progress)
        self._tokenizer = self._llm.get_tokenizer()

    @property
    def model(self) -> str:
        return self._spec.name

    @property
    def context_window(self) -> int:
        return int(self._llm.model_config.max_model_len)

    @property
    def concurrency(self) -> int:
        """One caller at a time: `LLM.generate` batches what it is given, and is not thread-safe."""
        return 1

    @cached_property
    def tokenizer(self) -> TokenCounter:
        file = tokenizer_file(self._spec)
        name = tokenizer_name(self._spec, file)  # the same name the lazy backend gives it
        if file is not None:
            return HuggingFaceCounter(file, name=name)
        return _EngineTokenCounter(self._tokenizer, name=name)

    @cached_property
    def special_tokens(self) -> frozenset[str]:
        """The HF tokenizer's special and added-special tokens (`<|im_end|>`, ...)."""
        tokens = set(getattr(self._tokenizer, "all_special_tokens", ()))
        added = getattr(self._tokenizer, "added_tokens_decoder", {})
        tokens |= {str(token) for token in added.values() if getattr(token, "special", False)}
        return frozenset(token for token in tokens if token.strip())

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        return len(self._prompt_ids(messages))

    def identity(self) -> dict[str, Any]:
        return engine_identity(self._spec, self._settings)

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        if not requests:
            return []
        prompts = [self._prompt_ids(request.messages) for request in requests]
        for ids in prompts:
            check_fits(len(ids), self.context_window)
        pairs = zip(requests, prompts, strict=True)
        params = [self._sampling(request, len(ids)) for request, ids in pairs]
        from vllm.exceptions import VLLMError

        started = time.perf_counter()
        try:
            with prefill_ticker(self._progress, sum(map(len, prompts)), self._rates.rate):
                outputs = self._llm.generate(
                    [{"prompt_token_ids": ids} for ids in prompts], params, use_tqdm=False
                )
        except (ValueError, VLLMError) as exc:  # request validation (VLLMValidationError, ...)
            raise _request_failure(exc) from exc
        elapsed = time.perf_counter() - started
        completions = [_completion(output, elapsed) for output in outputs]
        self._rates.record(completions)
        return completions

    def close(self) -> None:
        engine = getattr(self._llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        if core is not None:
            core.shutdown()

    def _prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        conversation = [{"role": m.role, "content": m.content} for m in messages]
        text = self._tokenizer.apply_chat_template(
            conversation, tokenize=False, add_generation_prompt=True
        )
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def _sampling(self, request: ChatRequest, prompt_tokens: int) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        sampling = request.sampling
        structured = None
        if request.json_schema is not None:
            structured = StructuredOutputsParams(json=request.json_schema)
        wanted = min(sampling.max_tokens, self._spec.max_tokens or sampling.max_tokens)
        return SamplingParams(
            max_tokens=max(1, min(wanted, self.context_window - prompt_tokens)),
            temperature=sampling.temperature, top_p=sampling.top_p, seed=sampling.seed,
            # keeps free text out of loops; under a schema it fights the grammar's repeated keys
            # and closing brackets, and the JSON runs into max_tokens unfinished
            frequency_penalty=0.0 if structured else self._spec.frequency_penalty,
            structured_outputs=structured,
        )


class PrefillRates:
    """Prompt tokens per second measured on this machine, kept beside the models per dtype.

    Only an estimate for the progress display: a missing or unreadable file means no estimate.
    """

    def __init__(self, models_dir: Path | None, dtype: str) -> None:
        self._file = models_dir / RATES_FILE if models_dir is not None else None
        self._dtype = dtype
        self.rate = self._stored().get(dtype, 0.0)

    def record(self, completions: Sequence[Completion]) -> None:
        fresh = sum(c.prompt_tokens - c.cached_tokens for c in completions)
        seconds = max((c.seconds for c in completions), default=0.0)
        if fresh < MIN_RATE_TOKENS or seconds <= 0 or self._file is None:
            return
        self.rate = fresh / seconds
        with suppress(OSError):  # an estimate we could not keep costs only the next estimate
            private_file(self._file)  # 0600 like every file of the cache folder
            self._file.write_text(json.dumps({**self._stored(), self._dtype: self.rate}))

    def _stored(self) -> dict[str, float]:
        try:
            data = json.loads(self._file.read_text()) if self._file is not None else {}
        except (OSError, ValueError):
            return {}
        return {k: float(v) for k, v in data.items()} if isinstance(data, dict) else {}


@contextmanager
def prefill_ticker(progress: Progress, tokens: int, rate: float) -> Iterator[None]:
    """Report "prefilling N tokens" (estimated from `rate`), then "generating", while vLLM works.

    vLLM's generate is one blocking call that says nothing until it ends; a thread ticks instead.
    """
    estimate = tokens / rate if rate > 0 else 0.0
    stage = f"prefilling {tokens:,} tokens" + (
        f" (~{estimate:.0f} s at {rate:.0f} tok/s)" if estimate else ""
    )
    done = threading.Event()

    def tick() -> None:
        started = time.perf_counter()
        while not done.wait(TICK_S):
            elapsed = time.perf_counter() - started
            if estimate and elapsed > estimate:
                progress(stage, tokens, tokens)
                progress(GENERATE_STAGE, 0, None)
            else:
                progress(stage, int(tokens * elapsed / estimate) if estimate else 0, tokens)

    progress(stage, 0, tokens)
    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
        progress(stage, tokens, tokens)
        progress(GENERATE_STAGE, 1, 1)


class _EngineTokenCounter:
    """Counts with the engine's own tokenizer when the model has no local tokenizer.json."""

    def __init__(self, tokenizer: Any, *, name: str) -> None:
        self._tokenizer = tokenizer
        self.name = name

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False))

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [self.count(text) for text in texts]


def _start_engine(spec: ModelSpec, settings: dict[str, Any], progress: Progress) -> Any:
    # vLLM configures itself from the environment only; stdout belongs to the CLI's output.
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    # A long prefill on a busy CPU can exceed vLLM's 300 s per-step RPC limit and kill the engine.
    os.environ.setdefault("VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS", str(EXECUTE_TIMEOUT_S))
    if spec.device == "cpu" and (os.cpu_count() or 1) <= SMALL_CPU_CORES:
        # vLLM keeps one core for its scheduler; on a small machine that halves the compute
        # (measured in docs/benchmarks.md).
        os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    stage = f"{START_STAGE}: {spec.name}, {settings.get('dtype', 'auto')}"
    progress(stage, 0, 1)  # importing vLLM alone takes seconds
    try:
        from vllm import LLM
        from vllm.platforms import current_platform
    except ImportError as exc:
        raise BackendUnavailable(NOT_INSTALLED) from exc
    ranks = settings.get("tensor_parallel_size", 1) * settings.get("pipeline_parallel_size", 1)
    binding = cpu_binding(ranks, sorted(os.sched_getaffinity(0)))
    if current_platform.is_cpu() and binding is not None:
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", binding)  # the user's own wins
    try:
        # log stats on: per-request timings (RequestOutput.metrics) and prefix-cache counters
        llm = LLM(model=spec.source, enable_prefix_caching=True, disable_log_stats=False,
                  **settings)
    except Exception as exc:  # vLLM/torch raise ValueError, RuntimeError, OSError, OOM, ...
        raise _start_failure(spec, exc) from exc
    progress(stage, 1, 1)
    return llm


def _start_failure(spec: ModelSpec, exc: Exception) -> BackendUnavailable:
    """vLLM's reason in one line and what to change: the settings by name, and for the CLI its
    flags."""
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    lowered = str(exc).lower()
    if "memory" in lowered or "out of memory" in lowered:
        hint = ("lower max-model-len or raise gpu-memory-utilization",
                "lower --max-model-len or raise --gpu-memory-utilization (see `longread plan`)")
    elif "divisible" in lowered or "tensor parallel" in lowered:
        hint = ("choose a tensor-parallel-size that divides the model's attention heads",
                "choose a --tensor-parallel-size that divides the model's attention heads")
    else:
        hint = ("check the model setting and that the [cpu] or [gpu] extra matches this machine",
                "check --model and that the [cpu] or [gpu] extra matches this machine")
    failed = f"vLLM could not start {spec.name} ({spec.source}): {detail}"
    return BackendUnavailable(f"{failed}; {hint[0]}", cli=f"{failed}; {hint[1]}")


def _request_failure(exc: Exception) -> Exception:
    message = str(exc)
    if "longer than the maximum model length" in message:
        return PromptTooLong(f"{first_line(exc)} Lower the budget or raise the max-model-len "
                             "setting.", cli=f"{first_line(exc)} Lower --budget or raise "
                             "--max-model-len.")
    if "EngineCore" in message:  # EngineDeadError: the engine process is gone
        return BackendUnavailable(
            "the vLLM engine died (why: <cache dir>/logs/longread.log, or run with -v); "
            "finished shards are cached, so running the same command again resumes"
        )
    return BackendUnavailable(f"vLLM refused the request: {first_line(exc)}")


def _completion(output: Any, batch_seconds: float) -> Completion:
    choice = output.outputs[0]
    return Completion(
        text=choice.text,
        prompt_tokens=len(output.prompt_token_ids or ()),
        cached_tokens=int(output.num_cached_tokens or 0),
        completion_tokens=len(choice.token_ids),
        seconds=_request_seconds(output, batch_seconds),
        finish_reason=choice.finish_reason,
    )


def _request_seconds(output: Any, batch_seconds: float) -> float:
    """Queue-to-last-token time when vLLM recorded it, else the wall time of the whole batch."""
    metrics = getattr(output, "metrics", None)
    first = getattr(metrics, "queued_ts", 0.0) or getattr(metrics, "scheduled_ts", 0.0)
    last = getattr(metrics, "last_token_ts", 0.0)
    if first and last and last >= first:
        return round(last - first, 4)
    return round(batch_seconds, 4)
