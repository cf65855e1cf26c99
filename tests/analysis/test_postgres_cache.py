"""`--cache-url postgresql://…`: both caches in one real PostgreSQL (tests/postgres.py), through the
CLI — a second ask is a hit, a warm pack reads the ingest cache from the database, and an
unreachable server, a refused password or a foreign schema is one line, exit 5, without the
password.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner, Result

from longread.analysis.cli.commands import cli
from tests.fakes import FakeBackend, register_fake

QUESTION = "Where is the zebra?"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> list[FakeBackend]:
    return register_fake(monkeypatch)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    (root / "app").mkdir(parents=True)
    (root / "app" / "store.py").write_text("class NoteStore:\n    def add(self, text): ...\n")
    (root / "README.md").write_text("# Notes\nA tiny notes app with a zebra mascot.\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "."], check=True)
    return root


def _run(tmp_path: Path, url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "--cache-url", url,
                                    *args])


def _one_line_exit_5(result: Result, password: str) -> str:
    assert result.exit_code == 5, result.output
    assert password not in result.output and "Traceback" not in result.output
    [line] = result.output.strip().splitlines()
    return line


def test_a_second_ask_is_a_hit_from_postgresql(
    tmp_path: Path, repo: Path, fake: list[FakeBackend], pg_url: str, postgres_server: object
) -> None:
    args = ("--verbose", "ask", "--backend", "fake", "--json", str(repo), QUESTION)
    first = _run(tmp_path, pg_url, *args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["answers"][0]["from_cache"] is False
    second = _run(tmp_path, pg_url, *args)
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["answers"][0]["from_cache"] is True
    assert [len(backend.requests) for backend in fake] == [1, 0]
    assert not list((tmp_path / "cache").glob("*.sqlite"))  # nothing went to the SQLite files
    password = postgres_server.password  # type: ignore[attr-defined]
    assert password not in first.output + second.output  # --verbose logs to stderr
    kept = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert not [path for path in kept if password.encode() in path.read_bytes()]


def test_a_second_runner_with_an_empty_cache_folder_hits_the_shared_database(
    tmp_path: Path, repo: Path, fake: list[FakeBackend], pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = ("ask", "--backend", "fake", "--json", str(repo), QUESTION)
    assert _run(tmp_path / "runner-1", pg_url, *args).exit_code == 0
    monkeypatch.setenv("LONGREAD_CACHE_URL", pg_url)  # the environment names it this time
    second = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "runner-2"), *args])
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["answers"][0]["from_cache"] is True


def test_a_warm_pack_reads_the_ingest_cache_from_postgresql(
    tmp_path: Path, repo: Path, pg_url: str
) -> None:
    readme = repo / "README.md"
    cold = _run(tmp_path, pg_url, "pack", str(repo))
    assert cold.exit_code == 0, cold.output
    assert "zebra" in cold.stdout
    # Same size, mtime and inode, new bytes: only a run that took the text from the cache
    # still shows the zebra.
    stat = readme.stat()
    with readme.open("r+") as handle:
        handle.write(readme.read_text().replace("zebra", "horse"))
    os.utime(readme, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    warm = _run(tmp_path, pg_url, "pack", str(repo))
    assert warm.exit_code == 0, warm.output
    assert "zebra" in warm.stdout and "horse" not in warm.stdout
    assert not (tmp_path / "cache" / "ingest.sqlite").exists()


def test_the_config_file_names_the_database_and_cache_commands_use_it(
    tmp_path: Path, repo: Path, fake: list[FakeBackend], pg_url: str,
    monkeypatch: pytest.MonkeyPatch, postgres_server: object,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "longread.toml").write_text(f'cache_url = "{pg_url}"\n')
    cache = ["--cache-dir", str(tmp_path / "cache")]
    runner = CliRunner()
    asked = runner.invoke(cli, [*cache, "ask", "--backend", "fake", str(repo), QUESTION])
    assert asked.exit_code == 0, asked.output
    password = postgres_server.password  # type: ignore[attr-defined]
    stats = runner.invoke(cli, [*cache, "cache", "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    assert password not in stats.output
    figures = json.loads(stats.stdout)
    # one ask in one pass: its raw completion ("one-pass") and its cleaned answer ("answer")
    assert figures["answers"]["rows"] == 2 and figures["ingest"]["bytes"] > 0
    assert figures["answers"]["path"].startswith("postgresql://postgres:***@")
    cleared = runner.invoke(cli, [*cache, "cache", "clear", "--all", "--yes"])
    assert cleared.exit_code == 0, cleared.output
    assert password not in cleared.output
    stats = runner.invoke(cli, [*cache, "cache", "stats", "--json"])
    assert json.loads(stats.stdout)["answers"]["rows"] == 0


def test_an_unreachable_server_is_one_line_exit_5_without_the_password(
    tmp_path: Path, repo: Path, fake: list[FakeBackend], postgres_server: object
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://postgres:s3cret-Pa55@127.0.0.1:{port}/longread"
    for args in (("ask", "--backend", "fake", str(repo), QUESTION), ("pack", str(repo))):
        line = _one_line_exit_5(_run(tmp_path, url, *args), "s3cret-Pa55")
        assert "postgres:***@127.0.0.1" in line


def test_a_refused_password_is_one_line_exit_5_without_it(
    tmp_path: Path, repo: Path, fake: list[FakeBackend], postgres_server: object
) -> None:
    url = postgres_server.url(password="wr0ng-Pa55")  # type: ignore[attr-defined]
    line = _one_line_exit_5(_run(tmp_path, url, "ask", "--backend", "fake", str(repo), QUESTION),
                            "wr0ng-Pa55")
    assert "password authentication failed" in line


def _psql(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def test_a_table_with_other_columns_is_one_line_exit_5(
    tmp_path: Path, repo: Path, fake: list[FakeBackend], pg_url: str, postgres_server: object
) -> None:
    _psql(pg_url, "CREATE SCHEMA longread_answers")
    _psql(pg_url, "CREATE TABLE longread_answers.answers (key TEXT PRIMARY KEY, answer TEXT)")
    _psql(pg_url, "CREATE TABLE longread_answers.schema_migrations"
                  " (name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION)")
    _psql(pg_url, "INSERT INTO longread_answers.schema_migrations VALUES ('0001_answers', 0)")
    result = _run(tmp_path, pg_url, "ask", "--backend", "fake", str(repo), QUESTION)
    line = _one_line_exit_5(result, postgres_server.password)  # type: ignore[attr-defined]
    assert "longread_answers.answers" in line and "other columns" in line


def test_a_schema_migrated_by_a_newer_longread_is_one_line_exit_5(
    tmp_path: Path, repo: Path, pg_url: str, postgres_server: object
) -> None:
    assert _run(tmp_path, pg_url, "pack", str(repo)).exit_code == 0
    _psql(pg_url, "INSERT INTO longread_ingest.schema_migrations VALUES ('ingest-9999-future', 0)")
    result = _run(tmp_path, pg_url, "pack", str(repo))
    line = _one_line_exit_5(result, postgres_server.password)  # type: ignore[attr-defined]
    assert "ingest-9999-future" in line and "newer longread" in line


def test_a_cache_url_that_is_not_postgresql_is_a_usage_error(tmp_path: Path, repo: Path) -> None:
    result = _run(tmp_path, "mysql://root:hunter2@db/longread", "pack", str(repo))
    assert result.exit_code == 2 and "hunter2" not in result.output
    assert "--cache-url" in result.output


def test_without_the_postgres_extra_a_cache_url_is_one_line_naming_it(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the `postgres` extra were missing
    result = _run(tmp_path, "postgresql://ci:hunter2@127.0.0.1:1/longread", "pack", str(repo))
    assert _one_line_exit_5(result, "hunter2").endswith("pip install 'longread[postgres]'")


def test_a_role_that_may_not_create_uses_a_database_migrated_before(
    tmp_path: Path, repo: Path, fake: list[FakeBackend], pg_url: str
) -> None:
    """CI runners often log in with a role that may read and write rows but not create."""
    args = ("ask", "--backend", "fake", "--json", str(repo), QUESTION)
    assert _run(tmp_path, pg_url, *args).exit_code == 0  # the owner migrates it once
    _psql(pg_url, "CREATE ROLE runner LOGIN PASSWORD 'runner-Pa55'")
    for schema in ("longread_ingest", "longread_answers"):
        _psql(pg_url, f"GRANT USAGE ON SCHEMA {schema} TO runner")
        _psql(pg_url, f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema}"
                      " TO runner")
    where = urlsplit(pg_url)
    runner = f"postgresql://runner:runner-Pa55@{where.hostname}:{where.port}{where.path}"
    hit = _run(tmp_path / "runner", runner, *args)
    assert hit.exit_code == 0, hit.output
    assert json.loads(hit.stdout)["answers"][0]["from_cache"] is True
    other = _run(tmp_path / "runner", runner, "ask", "--backend", "fake", str(repo), "Why?")
    assert other.exit_code == 0, other.output  # and it writes new answers
