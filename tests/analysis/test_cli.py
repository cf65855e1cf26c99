"""CLI conventions, through click's runner on real folders and caches: a run uses the defaults its
--help shows, -v goes anywhere, both caches are reported and clearable, and flags that would do
nothing say so."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from longread.analysis import logs
from longread.analysis.cli.commands import cli
from longread.engine.backend import BACKENDS
from tests import reviews
from tests.fakes import FakeBackend, register_fake
from tests.trees import write_files


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


def _help_default(command: str, flag: str) -> str:
    """The `[default: ...]` the command's --help shows for `flag`."""
    text = " ".join(CliRunner().invoke(cli, [command, "--help"]).output.split())
    match = re.search(re.escape(flag) + r" [A-Z]+ .*?\[default: ([^\]]+)\]", text)
    assert match, f"{command} --help shows no default for {flag}"
    return match.group(1)


@pytest.mark.parametrize("command", ["ask", "summarize"])
def test_a_run_without_sampling_flags_uses_the_defaults_its_help_shows(
    tmp_path, corpus, monkeypatch, command
):
    built = register_fake(monkeypatch)
    args = [command, "--backend", "fake", str(corpus)] + (["Who?"] if command == "ask" else [])
    result = invoke(tmp_path, *args)
    assert result.exit_code == 0, result.output
    (request, *_) = built[0].requests
    assert request.sampling.max_tokens == int(_help_default(command, "--max-tokens")) == 512
    assert request.sampling.temperature == float(_help_default(command, "--temperature")) == 0.0


def test_review_without_max_tokens_asks_for_what_its_help_shows(tmp_path, monkeypatch):
    built = reviews.register_queued(monkeypatch)
    repo = reviews.change_repo(tmp_path)
    result = invoke(tmp_path, "review", "--repo", str(repo), "--backend", "scripted")
    assert result.exit_code == 0, result.output
    (request,) = built[0].requests
    assert request.sampling.max_tokens == int(_help_default("review", "--max-tokens")) == 512


def test_the_openai_backend_without_base_url_calls_the_address_its_help_shows(
    tmp_path, corpus, monkeypatch
):
    seen: list[dict[str, object]] = []

    def server(**options: object) -> FakeBackend:
        seen.append(options)
        return FakeBackend()

    monkeypatch.setitem(BACKENDS, "openai", server)
    result = invoke(tmp_path, "ask", "--backend", "openai", str(corpus), "Who?")
    assert result.exit_code == 0, result.output
    assert _help_default("ask", "--backend") == "vllm"  # what a run without --backend uses
    assert {options["base_url"] for options in seen} == {
        _help_default("ask", "--base-url")} == {"http://127.0.0.1:8000/v1"}


def test_ask_takes_every_path_before_the_question(tmp_path, monkeypatch):
    built = register_fake(monkeypatch)
    write_files(tmp_path, {"a/one.py": "x = 1\n", "b/two.md": "# Two\n", "c.txt": "three\n"})
    paths = [str(tmp_path / name) for name in ("a", "b", "c.txt")]
    result = invoke(tmp_path, "ask", "--backend", "fake", *paths, "Where is two?", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pack"]["documents"] == 3
    assert [a["question"] for a in json.loads(result.stdout)["answers"]] == ["Where is two?"]
    prompt = built[0].requests[0].messages[0].content + built[0].requests[0].messages[-1].content
    assert "Where is two?" in prompt and "one.py" in prompt and "c.txt" in prompt


@pytest.mark.parametrize("xdg", [True, False])
def test_the_caches_live_under_xdg_cache_home_else_home_dot_cache(tmp_path, xdg):
    env = {"LONGREAD_CACHE_DIR": None, "HOME": str(tmp_path / "home"),
           "XDG_CACHE_HOME": str(tmp_path / "xdg") if xdg else None}
    result = CliRunner().invoke(cli, ["cache", "path"], env=env)
    assert result.exit_code == 0, result.output
    where = tmp_path / "xdg" / "longread" if xdg else tmp_path / "home" / ".cache" / "longread"
    assert result.output.splitlines() == [f"ingest:  {where / 'ingest.sqlite'}",
                                          f"answers: {where / 'answers.sqlite'}"]


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
