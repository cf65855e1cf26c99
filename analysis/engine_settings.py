"""The backend a job talks to, from Settings, and THE answer-cache identity of those Settings.

`settings_identity` is the one definition of what names a model's answers; every job (ask,
summarize, review, map-reduce shards and reduces) keys its cache with it, through the one
engine.session.Session that `open_backend` returns (which computes it once), and it needs neither
the network nor the weights. The in-process engine's tokenizer is named by its content and loaded
only for a count no cache holds, so a job whose results are all cached never starts vLLM — for the
embedded model, a model directory and a hub id alike.
"""

from __future__ import annotations

import sys
from typing import Any

from longread.analysis.config import Settings
from longread.engine.backend import BACKENDS, Backend
from longread.engine.options import OPENAI, VLLM, backend_options
from longread.engine.session import Session
from longread.ingest.errors import UsageError
from longread.ingest.progress import Progress, no_progress
from longread.ingest.tokens import HuggingFaceCounter, LazyCounter, TokenCounter

OPENAI_OPTIONS = backend_options(OPENAI)  # declared in engine/options.py


def open_backend(settings: Settings, progress: Progress = no_progress) -> Backend:
    """The session of the backend Settings name: no engine start and no request until one is
    needed; its identity is `settings_identity`, worked out once."""
    if settings.backend not in BACKENDS:
        known = ", ".join(sorted(BACKENDS))
        raise UsageError(f"unknown backend {settings.backend!r} (known: {known})")
    if settings.backend == "vllm":
        return _lazy_vllm(settings, progress)
    if settings.backend == "openai":
        return _server_session(settings)
    return Session(lambda: BACKENDS[settings.backend](model=settings.model),
                   identify=lambda: settings_identity(settings))


def settings_identity(settings: Settings, served: Backend | None = None) -> dict[str, Any]:
    """What identifies the model's answers, from Settings alone (no engine, no weights).

    A server's model is asked of the server (through `served`, the session's own client, when
    given) only when no --model names it.
    """
    if settings.backend == "vllm":
        return _vllm_identity(settings)
    if settings.backend == "openai":
        from longread.engine.openai_backend import server_identity

        model = _served_model(settings, served)
        return server_identity(settings.base_url, model, settings.context_window)
    return {"backend": settings.backend, "model": settings.model}


def _served_model(settings: Settings, served: Backend | None) -> str:
    if settings.model:
        return settings.model
    if served is not None:
        return served.model
    server = _server(settings)
    try:
        return server.model
    finally:
        server.close()


def _server_session(settings: Settings) -> Session:
    """A server's session: a model it must be asked for is asked once, by the session's client."""
    _check_concurrency(settings)

    def identify() -> dict[str, Any]:
        return settings_identity(settings, session.engine)

    session = Session(lambda: _server(settings), identify=identify,
                      model=settings.model or None, concurrency=settings.concurrency)
    return session


def _check_concurrency(settings: Settings) -> None:
    if settings.concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, not {settings.concurrency}")


def _server(settings: Settings) -> Backend:
    _check_concurrency(settings)
    options = {name: getattr(settings, name) for name in OPENAI_OPTIONS}
    return BACKENDS["openai"](model=settings.model or None, notice=notice, **options)


def notice(line: str) -> None:
    """One line the user should see whatever the log settings (the engine itself never prints)."""
    sys.stderr.write(f"longread: note: {line}\n")


def _engine_options(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in backend_options(VLLM)}


def _vllm_identity(settings: Settings) -> dict[str, Any]:
    from longread.engine.models import resolve_model
    from longread.engine.vllm_backend import engine_identity, engine_settings

    spec = resolve_model(settings.model, settings.models_dir)
    return engine_identity(spec, engine_settings(spec, _engine_options(settings)))


def _lazy_vllm(settings: Settings, progress: Progress) -> Backend:
    from longread.engine.models import (
        ensure_default_model,
        resolve_model,
        tokenizer_file,
        tokenizer_name,
    )
    from longread.engine.vllm_backend import check_parallel_sizes, engine_settings

    spec = resolve_model(settings.model, settings.models_dir)
    if spec.embedded:
        ensure_default_model(settings.models_dir, progress)
    check_parallel_sizes(spec, engine_settings(spec, _engine_options(settings)))

    def start() -> Backend:
        return BACKENDS["vllm"](
            model=settings.model, models_dir=settings.models_dir, progress=progress,
            **_engine_options(settings),
        )

    file = tokenizer_file(spec)
    name = tokenizer_name(spec, file)

    def load() -> TokenCounter:  # a hub id without a cached tokenizer: the engine's own
        return HuggingFaceCounter(file, name=name) if file else session.engine.tokenizer

    identity = _vllm_identity(settings)
    session = Session(start, identify=lambda: identity, model=spec.name,
                      tokenizer=LazyCounter(name, load), concurrency=1)
    return session
