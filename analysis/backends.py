"""The backend a job talks to, from Settings: in-process vLLM (started when needed) or a server.

The in-process engine is wrapped in a LazyBackend whose identity and tokenizer come from the model
directory and the engine settings, so a job whose results are all cached never loads vLLM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from longread.analysis.config import Settings
from longread.engine.answer import LazyBackend
from longread.engine.backend import BACKENDS, Backend
from longread.ingest.errors import UsageError
from longread.ingest.progress import Progress, no_progress
from longread.ingest.tokens import HuggingFaceCounter, LazyCounter

OPENAI_OPTIONS = ("base_url", "model", "api_key_env", "timeout", "max_retries")


def open_backend(settings: Settings, progress: Progress = no_progress) -> Backend:
    """The backend Settings name; in-process vLLM is wrapped so it starts only when needed."""
    if settings.backend not in BACKENDS:
        known = ", ".join(sorted(BACKENDS))
        raise UsageError(f"unknown backend {settings.backend!r} (known: {known})")
    if settings.backend == "vllm":
        return _lazy_vllm(settings, progress)
    if settings.backend == "openai":
        options = {name: getattr(settings, name) for name in OPENAI_OPTIONS}
        return BACKENDS["openai"](**options)
    return BACKENDS[settings.backend](model=settings.model)


def settings_identity(settings: Settings) -> dict[str, Any]:
    """What identifies the model's answers, from Settings alone (no engine, no server call)."""
    if settings.backend == "vllm":
        from longread.engine.models import resolve_model
        from longread.engine.vllm_backend import ENGINE_OPTIONS, engine_identity, engine_settings

        spec = resolve_model(settings.model, settings.models_dir)
        options = {name: getattr(settings, name) for name in ENGINE_OPTIONS}
        return engine_identity(spec, engine_settings(spec, options))
    served_by = {"base_url": settings.base_url} if settings.backend == "openai" else {}
    return {"backend": settings.backend, "model": settings.model, **served_by}


def _lazy_vllm(settings: Settings, progress: Progress) -> Backend:
    from longread.engine.models import ensure_default_model, resolve_model
    from longread.engine.vllm_backend import (  # light: vllm itself loads on start
        ENGINE_OPTIONS,
        engine_identity,
        engine_settings,
    )

    spec = resolve_model(settings.model, settings.models_dir)
    if spec.embedded:
        ensure_default_model(settings.models_dir, progress)
    options = {name: getattr(settings, name) for name in ENGINE_OPTIONS}

    def factory() -> Backend:
        return BACKENDS["vllm"](
            model=settings.model, models_dir=settings.models_dir, progress=progress, **options
        )

    tokenizer_file = Path(spec.source) / "tokenizer.json"
    if not tokenizer_file.is_file():  # a hub id: only the engine knows its tokenizer
        return factory()
    identity = engine_identity(spec, engine_settings(spec, options))
    name = f"hf:{spec.name}"  # loaded only when a count is not in the ingest cache
    counter = LazyCounter(name, lambda: HuggingFaceCounter(tokenizer_file, name=name))
    return LazyBackend(factory, model=spec.name, identity=identity, tokenizer=counter)
