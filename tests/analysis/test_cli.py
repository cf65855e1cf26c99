"""CLI conventions, through click's runner on real folders and caches: --help shows defaults and
whole sentences, -v goes anywhere, both caches are reported and clearable, and flags that would
do nothing say so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from longread.analysis import logs
from longread.analysis.cli.commands import cli


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "app.py").write_text("def handler(request):\n    return request\n")
    (root / "README.md").write_text("# App\nHandles requests.\n")
    return root


def invoke(tmp_path: Path, *args: str, input: str | None = None):
    env = {"LONGREAD_CACHE_DIR": str(tmp_path / "cache")}
    return CliRunner().invoke(cli, list(args), env=env, input=input)


@pytest.mark.parametrize("command", ["ask", "summarize", "review"])
def test_model_options_show_their_defaults(tmp_path, command):
    result = invoke(tmp_path, command, "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for shown in ("[default: vllm]", "[default: http://127.0.0.1:8000/v1]", "[default: 512]"):
        assert shown in text
    assert "[default: the embedded smollm2, or the server's only model]" in text
    if command != "review":
        assert "[default: 0.0]" in text


def test_ask_usage_names_paths_and_question(tmp_path):
    result = invoke(tmp_path, "ask", "--help")
    assert "Usage: cli ask [OPTIONS] PATH... QUESTION" in result.output


def test_the_command_list_is_whole_sentences(tmp_path):
    result = invoke(tmp_path, "--help")
    assert "[default: $XDG_CACHE_HOME/longread, else ~/.cache/longread]" in " ".join(
        result.output.split())
    commands = result.output.split("Commands:")[1].strip().splitlines()
    assert {"ask", "cache", "models", "pack", "plan", "review", "summarize"} <= {
        line.split()[0] for line in commands}
    assert all(line.rstrip().endswith(".") and not line.rstrip().endswith("...")
               for line in commands), commands


def test_verbose_is_accepted_before_and_after_the_subcommand(tmp_path, corpus, monkeypatch):
    seen: list[bool] = []
    real = logs.setup_logging

    def spy(cache_dir, *, verbose):
        seen.append(verbose)
        return real(cache_dir, verbose=verbose)

    monkeypatch.setattr(logs, "setup_logging", spy)
    for args in (["-v", "pack", str(corpus)], ["pack", str(corpus), "-v"],
                 ["pack", str(corpus)], ["cache", "path", "--verbose"]):
        result = invoke(tmp_path, *args)
        assert result.exit_code == 0, result.output
    assert seen == [True, True, False, True]


def test_cache_stats_reports_both_caches_in_human_sizes(tmp_path, corpus):
    assert invoke(tmp_path, "pack", str(corpus), "-o", str(tmp_path / "p.xml")).exit_code == 0
    text = invoke(tmp_path, "cache", "stats").output
    assert f"ingest:  {tmp_path / 'cache' / 'ingest.sqlite'}" in text
    assert "0.0 MB" not in text and " KB" in text
    figures = json.loads(invoke(tmp_path, "cache", "stats", "--json").output)
    on_disk = (tmp_path / "cache" / "ingest.sqlite").stat().st_size
    assert figures["ingest"]["bytes"] >= on_disk > 0
    assert figures["answers"]["rows"] == 0


def test_cache_clear_ingest_asks_then_removes_only_the_ingest_cache(tmp_path, corpus):
    assert invoke(tmp_path, "pack", str(corpus), "-o", str(tmp_path / "p.xml")).exit_code == 0
    ingest = tmp_path / "cache" / "ingest.sqlite"
    (tmp_path / "cache" / "ingest.sqlite.corrupt-1").write_bytes(b"junk")
    refused = invoke(tmp_path, "cache", "clear", "--ingest", input="n\n")
    assert refused.exit_code == 1 and ingest.exists()
    cleared = invoke(tmp_path, "cache", "clear", "--ingest", input="y\n")
    assert cleared.exit_code == 0 and "removed the ingest cache" in cleared.output
    assert not list((tmp_path / "cache").glob("ingest.sqlite*"))
    both = invoke(tmp_path, "cache", "clear", "--all", "--yes")
    assert both.exit_code == 0 and "removed 0 cached answers" in both.output


def test_query_without_budget_says_it_does_not_rank(tmp_path, corpus):
    result = invoke(tmp_path, "pack", str(corpus), "--query", "handler")
    assert result.exit_code == 0
    assert result.stderr == ("longread: warning: --query only ranks within a --budget; "
                             "without one every file is packed in full\n")
    assert invoke(tmp_path, "pack", str(corpus)).stdout == result.stdout


def test_an_unknown_config_key_is_one_warning_naming_it(tmp_path, corpus, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "longread.toml").write_text('modle = "llama-4-scout"\nmax_tokens = 64\n')
    result = invoke(tmp_path, "pack", str(corpus), "-o", str(tmp_path / "p.xml"))
    assert result.exit_code == 0
    assert result.stderr == ("longread: warning: unknown key 'modle' in the config file, "
                             "ignored (did you mean 'model'?)\n")
