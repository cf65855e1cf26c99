"""Engine options declared once (engine/options.py): each reaches the backend from its flag, its
LONGREAD_* variable and its longread.toml key, and exactly the answer-changing ones key the cache.

Driven through `longread ask` with stand-in backends registered under "vllm" and "openai" that
record the arguments they are built with; the in-process identity is the real LazyBackend's, the
server's the real OpenAIBackend's (built from the recorded arguments, never contacted).
"""

from __future__ import annotations

import json
import os
from dataclasses import Field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from longread.analysis.cli.commands import cli  # noqa: E402
from longread.analysis.config import load_settings  # noqa: E402
from longread.analysis.engine_settings import settings_identity  # noqa: E402
from longread.engine.backend import BACKENDS  # noqa: E402
from longread.engine.openai_backend import OpenAIBackend  # noqa: E402
from longread.engine.options import OPENAI, VLLM, declared, spec_of  # noqa: E402
from tests.fakes import FakeBackend, hub_snapshot  # noqa: E402

HUB_MODEL = "llama-4-scout"  # a preset whose weights are never needed: the engine is a stand-in
SERVED = "served-model"
SAMPLED = {"max_tokens", "temperature"}  # the job's sampling, not a backend's argument
OPTIONS = {f.name: f for f in declared()}


class ServerStandIn(FakeBackend):
    """The fake's answers with the identity a real OpenAIBackend built from the same arguments
    gives (it sends nothing: the model is named)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(context_window=100_000)
        self.server = OpenAIBackend(**options)

    def identity(self) -> dict[str, Any]:
        return self.server.identity()


def _value(declared_field: Field[Any]) -> Any:
    """A value no default or preset has: it must come from where the test put it."""
    kind = str(declared_field.type)
    if kind.startswith("bool"):
        return True
    if kind == "int":
        return 2
    if kind == "float":
        return 0.25
    if declared_field.name == "base_url":
        return "http://127.0.0.1:9/v1"
    return {"dtype": "float16", "kv_cache_dtype": "fp8"}.get(declared_field.name,
                                                            f"{declared_field.name}-chosen")


def _backend_for(name: str) -> str:
    return VLLM if VLLM in spec_of(OPTIONS[name]).backends else OPENAI


Built = list[tuple[str, dict[str, Any], FakeBackend]]


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Built:
    """Stand-ins for both backends, a hub model for the in-process one, a repo; each backend
    built is recorded with its arguments."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    hub_snapshot(tmp_path / "hf", "meta-llama/Llama-4-Scout-17B-16E-Instruct",
                 {"tokenizer.json": _tokenizer_json()})
    for name in [name for name in os.environ if name.startswith("LONGREAD_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    record: Built = []

    def engine(**options: Any) -> FakeBackend:
        record.append((VLLM, options, FakeBackend(context_window=100_000)))
        return record[-1][2]

    def server(**options: Any) -> FakeBackend:
        record.append((OPENAI, options, ServerStandIn(**options)))
        return record[-1][2]

    monkeypatch.setitem(BACKENDS, VLLM, engine)
    monkeypatch.setitem(BACKENDS, OPENAI, server)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("# Notes\nA tiny notes app with a zebra mascot.\n")
    return record


def _tokenizer_json() -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "zebra": 1}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return tokenizer.to_str()


def _ask(tmp_path: Path, backend: str, *args: str, model: bool = True) -> Result:
    chosen = ["--model", HUB_MODEL if backend == VLLM else SERVED] if model else []
    return CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "ask", "--json",
                                    str(tmp_path / "repo"), "Where is the zebra?",
                                    "--backend", backend, *chosen, *args])


def _from_cache(result: Result) -> bool:
    assert result.exit_code == 0, result.output
    return bool(json.loads(result.stdout)["answers"][0]["from_cache"])


def _set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: Any,
         source: str) -> list[str]:
    """Give option `name` the value through `source`; the flags to add (only for "flag")."""
    flag = "--" + name.replace("_", "-")
    if source == "flag":
        return [flag] if value is True else [flag, str(value)]
    if source == "env":
        monkeypatch.setenv(f"LONGREAD_{name.upper()}", "true" if value is True else str(value))
    else:
        key = name.replace("_", "-")
        (tmp_path / "longread.toml").write_text(f"{key} = {json.dumps(value)}\n")
    return []


REACH = [(name, source) for name in OPTIONS if name != "backend"
         for source in ("flag", "env", "toml") if source != "flag" or spec_of(OPTIONS[name]).cli]


@pytest.mark.parametrize(("name", "source"), REACH)
def test_each_declared_option_reaches_the_backend_from_its_flag_env_and_toml_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: Built, name: str, source: str,
) -> None:
    """A backend's option is an argument it is built with; max_tokens and temperature are the
    sampling of the requests it gets; the model is the one it is built for."""
    value = _value(OPTIONS[name])
    backend = _backend_for(name)
    extra = _set(tmp_path, monkeypatch, name, value, source)
    assert _from_cache(_ask(tmp_path, backend, *extra, model=name != "model")) is False
    [(kind, arguments, stand_in)] = built
    assert kind == backend
    if name in SAMPLED:
        assert getattr(stand_in.requests[0].sampling, name) == value
    else:
        assert arguments[name] == value


@pytest.mark.parametrize("source", ["flag", "env", "toml"])
def test_the_backend_option_chooses_which_backend_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: Built, source: str,
) -> None:
    extra = _set(tmp_path, monkeypatch, "backend", OPENAI, source)
    args = ["--cache-dir", str(tmp_path / "cache"), "ask", "--json", str(tmp_path / "repo"),
            "Where is the zebra?", "--model", SERVED, *extra]
    assert _from_cache(CliRunner().invoke(cli, args)) is False
    assert [kind for kind, _, _ in built] == [OPENAI]


IDENTITY = [name for name in OPTIONS if name != "backend"]


@pytest.mark.parametrize("name", IDENTITY)
def test_an_answer_changing_option_misses_the_answer_cache_and_any_other_hits_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: Built, name: str,
) -> None:
    """The same question asked again with one option changed: answered anew exactly when the
    declaration says the option changes answers (its backend's identity, or the sampling)."""
    backend = _backend_for(name)
    assert _from_cache(_ask(tmp_path, backend)) is False
    value = _value(OPTIONS[name])
    changed = _set(tmp_path, monkeypatch, name, value, "flag" if spec_of(OPTIONS[name]).cli
                   else "env")
    if name == "model":
        again = _ask(tmp_path, backend, *changed, model=False)
    else:
        again = _ask(tmp_path, backend, *changed)
    assert _from_cache(again) is not spec_of(OPTIONS[name]).answer_changing


# Identities computed before the options were declared once (main at ffffca0): a cached answer
# from before must still hit.
BEFORE = [
    ({"backend": "vllm", "model": "llama-4-scout"},
     {"backend": "vllm", "dtype": "bfloat16", "max_model_len": 1000000, "model": "llama-4-scout",
      "source": "meta-llama/Llama-4-Scout-17B-16E-Instruct", "tensor_parallel_size": 8}),
    ({"backend": "vllm", "model": "llama-4-maverick", "kv_cache_dtype": "fp8",
      "gpu_memory_utilization": 0.5, "enforce_eager": False, "tensor_parallel_size": 8},
     {"backend": "vllm", "enforce_eager": False, "kv_cache_dtype": "fp8",
      "max_model_len": 430000, "model": "llama-4-maverick",
      "source": "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "tensor_parallel_size": 8}),
    ({"backend": "vllm", "model": "llama-4-scout", "dtype": "float16", "quantization": "fp8",
      "max_model_len": 4096, "max_num_batched_tokens": 1024, "pipeline_parallel_size": 2},
     {"backend": "vllm", "dtype": "float16", "max_model_len": 4096, "model": "llama-4-scout",
      "pipeline_parallel_size": 2, "quantization": "fp8",
      "source": "meta-llama/Llama-4-Scout-17B-16E-Instruct", "tensor_parallel_size": 8}),
    ({"backend": "openai", "model": "served", "context_window": 4096,
      "base_url": "http://h:1/v1/"},
     {"backend": "openai", "context_window": 4096, "model": "served", "url": "http://h:1/v1"}),
    ({"backend": "openai", "model": "served", "timeout": 5.0, "concurrency": 2},
     {"backend": "openai", "model": "served", "url": "http://127.0.0.1:8000/v1"}),
]


@pytest.mark.parametrize(("flags", "identity"), BEFORE)
def test_the_cache_identity_is_the_one_computed_before_the_declaration(
    tmp_path: Path, flags: dict[str, Any], identity: dict[str, Any]
) -> None:
    settings = load_settings({"cache_dir": str(tmp_path), **flags}, environ={}, cwd=tmp_path)
    assert settings_identity(settings) == identity
