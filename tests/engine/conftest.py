"""The engine tests run under both dtypes the embedded engine can pick (vllm_backend.cpu_dtype):
float32 (CPUs without bf16 instructions) and bfloat16 (avx512_bf16 or AMX), whatever this CPU is.

Overrides the root conftest's `engine_dtype`. The parameter is session-scoped, so pytest runs every
float32 test, then every bfloat16 one: the one live engine restarts once per dtype, not per test.
"""

from __future__ import annotations

import pytest

CPU_DTYPES = ("float32", "bfloat16")


@pytest.fixture(scope="session", params=CPU_DTYPES)
def engine_dtype(request: pytest.FixtureRequest) -> str:
    return str(request.param)
