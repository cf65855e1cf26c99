"""No secret at rest: after `pack`, `ask`, `review`, `serve` and `mcp` over a git repository with
planted secrets, no byte of the cache folder (databases, their WAL, the log, anything else) holds
one; the folder is 0700 and its files 0600 whatever the umask."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from click.testing import CliRunner
from mcp import Client, StdioServerParameters

from longread.analysis.cli.commands import cli
from longread.analysis.config import load_settings
from longread.analysis.web.server import ServeOptions
from longread.ingest.cache import MIGRATIONS, TABLES, IngestCache
from longread.ingest.corpus_spec import CorpusSpec
from longread.ingest.store import Schema, open_store
from tests.fakes import register_fake, register_scripted
from tests.faultserver import FaultServer, Reply
from tests.trees import write_files
from tests.webserver import running

LONGREAD = Path(sys.executable).parent / "longread"
# Every value below must never rest anywhere under the cache folder.
SECRETS = {
    "env-aws-key": "AKIAQ7X2M4N8P3R5T6VW",
    "env-aws-secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYz8Kq3Lm2Np",
    "env-password": "Plum-Orchard-Hunter-7731",
    "py-aws-key": "AKIAZ3K7M9P2Q4R6T8VY",
    "yaml-password": "Vk8qL2zR7wN4xTpe",
    "pem-key-body": "MIIEowIBAAKCAQEA7sT9qRw3LmZp5XyVbN2cK8jH4gF6dS1aQ0eW",
    "md-github-token": "ghp_R7kQ2mX9vL4pW8nZ3cT6yB1sD5fH0jG2aE4u",
}
FILES = {
    ".env": f"AWS_ACCESS_KEY_ID={SECRETS['env-aws-key']}\n"
            f"AWS_SECRET_ACCESS_KEY={SECRETS['env-aws-secret']}\n"
            f"DB_PASSWORD={SECRETS['env-password']}\n",
    "app/config.py": f'"""Settings."""\n\nREGION = "eu-west-1"\n'
                     f'AWS_KEY = "{SECRETS["py-aws-key"]}"\n\n\ndef region():\n'
                     f"    return REGION\n\n\n"
                     f'def connect(key="{SECRETS["py-aws-key"]}"):\n    return key\n',
    "deploy/config.yaml": f'database:\n  user: app\n  password: "{SECRETS["yaml-password"]}"\n',
    "keys/server.pem": "-----BEGIN RSA PRIVATE KEY-----\n"
                       f"{SECRETS['pem-key-body']}\n-----END RSA PRIVATE KEY-----\n",
    "README.md": f"# Demo\nFetch with token {SECRETS['md-github-token']} from CI.\n",
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main holds the secrets; branch `feature` changes the module holding one and the README."""
    root = tmp_path / "repo"
    write_files(root, FILES)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    git(root, "add", "-A", "-f")
    git(root, "commit", "-q", "-m", "base")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "app" / "config.py").write_text(FILES["app/config.py"].replace("eu-west-1", "us-east-2")
                                            + f"BACKUP_KEY = '{SECRETS['py-aws-key']}'\n")
    (root / "README.md").write_text(FILES["README.md"] + "Deploys to us-east-2.\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "feature")
    return root


def leaks(folder: Path) -> dict[str, list[str]]:
    """file -> the planted secrets found in its bytes, as is or case-folded."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        folded = data.decode("latin-1").casefold()
        names = [name for name, value in SECRETS.items()
                 if value.encode() in data or value.casefold() in folded]
        if names:
            found[str(path.relative_to(folder))] = names
    return found


def invoke(cache: Path, *args: str) -> None:
    result = CliRunner().invoke(cli, ["--cache-dir", str(cache), *args], catch_exceptions=False)
    assert result.exit_code in (0, 10), result.output  # review: 10 = findings over --fail-on


@contextmanager
def serving(cache: Path, repo: Path) -> Iterator[str]:
    """A real uvicorn server on a free port in a thread of this process (it sees the fake)."""
    settings = load_settings({"cache_dir": str(cache), "backend": "fake"}, environ={},
                             cwd=cache.parent)
    with running(settings, ServeOptions(CorpusSpec.of([repo]), port=0)) as url:
        yield url


def serve_session(cache: Path, repo: Path) -> None:
    with serving(cache, repo) as url:
        asked = httpx.post(url + "api/ask", json={"question": "Which region?"}, timeout=60)
        assert asked.status_code == 200, asked.text
        assert httpx.get(url + "api/pack", timeout=60).status_code == 200
        for path in FILES:
            httpx.get(url + "api/source", params={"path": path}, timeout=60)


def mcp_session(cache: Path, repo: Path) -> None:
    """`longread mcp` over stdio (the real CLI), asking a model faked at the wire."""
    answer = "The region is set in `app/config.py:3`."
    with FaultServer() as server:
        server.script("GET", "/v1/models",
                      Reply(200, {"object": "list", "data": [{"id": "m", "max_model_len": 8192}]}))
        server.script("POST", "/tokenize", lambda body: Reply(200, {"count": 100}))
        server.script("POST", "/v1/chat/completions", Reply(200, {
            "choices": [{"message": {"content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20},
        }))
        params = StdioServerParameters(
            command=str(LONGREAD),
            args=["--cache-dir", str(cache), "mcp", str(repo), "--backend", "openai",
                  "--base-url", server.url, "--model", "m"],
            cwd=str(cache.parent),
        )

        async def main() -> None:
            async with Client(params) as client:
                await client.call_tool("pack", {})
                await client.call_tool("ask", {"question": "Which region?"})
                for path in FILES:
                    await client.call_tool("read", {"path": path})

        anyio.run(main)
        assert server.requests_to("/v1/chat/completions")


@pytest.mark.slow
def test_no_planted_secret_rests_under_the_cache_folder_after_every_command(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_fake(monkeypatch)
    register_scripted(monkeypatch, lambda _system: json.dumps({"findings": []}))
    cache = tmp_path / "cache"
    invoke(cache, "pack", str(repo), "-o", str(tmp_path / "pack.xml"))
    invoke(cache, "pack", str(repo), "-o", str(tmp_path / "outline.xml"), "--budget", "300")
    invoke(cache, "ask", "--backend", "fake", str(repo), "Which region is used?")
    invoke(cache, "review", "--repo", str(repo), "--base", "main", "--backend", "scripted")
    serve_session(cache, repo)
    mcp_session(cache, repo)
    assert (cache / "ingest.sqlite").is_file() and (cache / "answers.sqlite").is_file()
    assert (cache / "logs" / "longread.log").is_file()
    assert leaks(cache) == {}
    pack = (tmp_path / "pack.xml").read_text()
    assert "[REDACTED:" in pack and "REGION" in pack  # the secrets were read, and redacted


def database_leaks(url: str) -> dict[str, list[str]]:
    """table -> the planted secrets found in any of its rows, as is or case-folded."""
    import psycopg

    found: dict[str, list[str]] = {}
    with psycopg.connect(url) as conn:
        tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables"
                              " WHERE table_schema LIKE 'longread_%'").fetchall()
        assert {("longread_ingest", "scanned"), ("longread_answers", "answers")} <= {
            (schema, table) for schema, table in tables}
        for schema, table in tables:
            rows = conn.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
            text = repr(rows)
            names = [name for name, value in SECRETS.items()
                     if value in text or value.casefold() in text.casefold()]
            if names:
                found[f"{schema}.{table}"] = names
    return found


def test_no_planted_secret_rests_in_a_shared_postgresql_cache(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    register_fake(monkeypatch)
    register_scripted(monkeypatch, lambda _system: json.dumps({"findings": []}))
    cache = tmp_path / "cache"
    shared = ("--cache-url", pg_url)
    invoke(cache, *shared, "pack", str(repo), "-o", str(tmp_path / "pack.xml"))
    invoke(cache, *shared, "pack", str(repo), "-o", str(tmp_path / "outline.xml"),
           "--budget", "300")
    invoke(cache, *shared, "ask", "--backend", "fake", str(repo), "Which region is used?")
    invoke(cache, *shared, "review", "--repo", str(repo), "--base", "main",
           "--backend", "scripted")
    assert database_leaks(pg_url) == {}
    assert leaks(cache) == {}
    assert "[REDACTED:" in (tmp_path / "pack.xml").read_text()


def test_a_run_without_redaction_is_not_served_redacted_text_nor_leaves_its_plaintext(
    tmp_path: Path, repo: Path
) -> None:
    cache = tmp_path / "cache"
    redacted, plain, outlined, again = (tmp_path / f"{name}.xml" for name in "abcd")
    invoke(cache, "pack", str(repo), "-o", str(redacted))
    invoke(cache, "pack", str(repo), "--no-redact", "-o", str(plain))
    invoke(cache, "pack", str(repo), "--no-redact", "--budget", "300", "-o", str(outlined))
    invoke(cache, "pack", str(repo), "-o", str(again))
    assert SECRETS["yaml-password"] in plain.read_text()
    assert SECRETS["env-aws-key"] in plain.read_text()  # the .env is packed as asked
    assert again.read_text() == redacted.read_text()
    assert SECRETS["yaml-password"] not in again.read_text()
    assert f'def connect(key="{SECRETS["py-aws-key"]}")' in outlined.read_text()  # an outline
    assert 'fidelity="outline"' in outlined.read_text()
    assert leaks(cache) == {}


def test_an_older_cache_holding_plaintext_is_emptied_of_it_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "ingest.sqlite"
    path.parent.mkdir()
    before = MIGRATIONS[:3]  # the schema before this fix
    store = open_store(path, Schema("ingest", TABLES, before))
    with store.write() as conn:
        conn.execute("INSERT INTO extractions VALUES (?, ?, ?, ?, ?, ?)",
                     ("a" * 64, "text-1", FILES[".env"] * 50, "[]", "[]", None))
        conn.execute("INSERT INTO file_stats VALUES (?, ?, ?, ?, ?)",
                     (f"/repo/{SECRETS['py-aws-key']}.txt", 1, 2, 3, "a" * 64))
    store.close()
    assert leaks(path.parent)  # the plaintext is there before
    IngestCache(path).close()
    assert leaks(path.parent) == {}


def modes(folder: Path) -> dict[str, int]:
    """Each folder and file under `folder` (itself included) -> its permission bits."""
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode)
            for p in [folder, *folder.rglob("*")]}


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask-022", "umask-000"])
def test_the_cache_folder_is_0700_and_its_files_0600_whatever_the_umask(
    tmp_path: Path, repo: Path, umask: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_fake(monkeypatch)
    cache = tmp_path / "cache"
    previous = os.umask(umask)
    try:
        invoke(cache, "ask", "--backend", "fake", str(repo), "Which region?")
        with IngestCache(cache / "ingest.sqlite") as ingest:  # -wal and -shm exist while open
            ingest.put_token_counts("t", {"h": 1})
            assert (cache / "ingest.sqlite-wal").is_file()
            assert (cache / "ingest.sqlite-shm").is_file()
            seen = modes(cache)
    finally:
        os.umask(previous)
    assert {"ingest.sqlite", "answers.sqlite", "logs/longread.log"} <= set(seen)
    assert {name: mode for name, mode in seen.items()
            if mode != (0o700 if (cache / name).is_dir() else 0o600)} == {}


def test_looser_folders_and_files_left_by_an_older_run_are_tightened(
    tmp_path: Path, repo: Path
) -> None:
    cache = tmp_path / "cache"
    invoke(cache, "pack", str(repo), "-o", str(tmp_path / "pack.xml"))
    (cache / "ingest.sqlite.corrupt-1").write_bytes(b"moved aside by an older run")
    for path in [cache, *cache.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    invoke(cache, "pack", str(repo), "-o", str(tmp_path / "pack.xml"))
    seen = modes(cache)
    assert {"ingest.sqlite", "ingest.sqlite.corrupt-1", "logs/longread.log"} <= set(seen)
    assert {name: mode for name, mode in seen.items()
            if mode != (0o700 if (cache / name).is_dir() else 0o600)} == {}


def test_a_pulled_models_folder_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The conversion writes with the umask's modes; the folder it lands in is tightened, and the
    measured prefill rates kept beside the model are 0600 too."""
    from longread.engine import models
    from longread.engine.backend import Completion
    from longread.engine.vllm_backend import RATES_FILE, PrefillRates

    def fake_download(workdir: Path) -> Path:
        (workdir / "model.gguf").write_bytes(b"gguf")
        return workdir / "model.gguf"

    def fake_convert(_gguf: Path, out: Path) -> None:
        out.mkdir()
        for name in models._MODEL_FILES:
            (out / name).write_text(json.dumps({"name": name}))

    monkeypatch.setattr(models, "_download_gguf", fake_download)
    monkeypatch.setattr(models, "_convert", fake_convert)
    previous = os.umask(0)
    try:
        target = models.ensure_default_model(tmp_path / "cache" / "models")
        measured = Completion("x", prompt_tokens=4100, cached_tokens=0, completion_tokens=1,
                              seconds=50.0)
        PrefillRates(tmp_path / "cache" / "models", "float32").record([measured])
    finally:
        os.umask(previous)
    assert (tmp_path / "cache" / "models" / RATES_FILE).is_file()
    seen = modes(tmp_path / "cache" / "models")
    assert target.is_dir() and len(seen) > 2
    assert {name: mode for name, mode in seen.items()
            if mode != (0o700 if (tmp_path / "cache" / "models" / name).is_dir() else 0o600)} == {}
