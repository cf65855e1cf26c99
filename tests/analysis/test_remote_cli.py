"""Git URLs as PATHs, through the CLI against real servers on 127.0.0.1: `git daemon`, smart HTTP
(`git http-backend`, Basic auth for a private repository) and file://."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result
from mcp import Client, StdioServerParameters  # imported first: its errlog is the real stderr

from longread.analysis import api
from longread.analysis.cli.commands import cli
from longread.analysis.config import Settings
from longread.analysis.web.server import WebServer
from tests.faultserver import FaultServer
from tests.gitservers import (
    SmartHttp,
    commit_more,
    daemon_requests,
    free_port,
    git,
    git_daemon,
    make_repo,
)

TOKEN = "s3cr3t-Token-4f9a2c"  # noqa: S105 (the private repository's password in these tests)
AWS_KEY = "AKIAQ4TZ7LMN2P5RX8VW"
FILES = {
    "app/main.py": "def main():\n    return 'one'\n",
    "docs/guide.md": "# Guide\nRun main.\n",
    "notes/draft.txt": "not for the pack\n",
    ".longreadignore": "notes/\n",
}
HOSTILE_CONFIG = ('redact = false\nbackend = "openai"\nbase-url = "{url}"\nmax-retries = 0\n'
                  'cache-dir = "elsewhere"\ncache-url = "postgresql://them@127.0.0.1:1/theirs"\n')


@dataclass(frozen=True)
class Served:
    base: Path  # the folder of bare repositories
    first: str  # commit of main's first commit, tagged v1
    second: str  # main's head
    log: Path  # git daemon's request log
    daemon: str  # git://127.0.0.1:PORT


@pytest.fixture(autouse=True)
def _no_user_git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's own git config is a file the test owns (empty unless a test writes to it)."""
    config = tmp_path / "user.gitconfig"
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.delenv("LONGREAD_GIT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """proj.git: main's first commit tagged v1 (annotated), then a second commit on main."""
    base = tmp_path / "srv"
    first = make_repo(base / "proj.git", FILES)
    git(base / "proj.git", "tag", "-a", "v1", "-m", "v1", first)
    second = commit_more(base / "proj.git", {"app/main.py": "def main():\n    return 'two'\n"})
    log = tmp_path / "daemon.log"
    with git_daemon(base, log) as url:
        yield Served(base, first, second, log, url)


def _pack(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "pack", *args])


def _packed(tmp_path: Path, *args: str) -> tuple[dict, str]:
    """(manifest, pack text) of a pack that must succeed."""
    out = tmp_path / "pack.xml"
    result = _pack(tmp_path, *args, "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), out.read_text(encoding="utf-8")


def _checkouts(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "cache" / "remote"
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.slow
def test_pack_a_branch_a_tag_and_a_commit_from_git_daemon(tmp_path: Path, served: Served) -> None:
    url = f"{served.daemon}/proj.git"
    for ref, commit, says in (("main", served.second, "two"), ("v1", served.first, "one"),
                              (served.first, served.first, "one")):
        manifest, text = _packed(tmp_path, f"{url}@{ref}")
        assert manifest["sources"] == [{"url": url, "commit": commit}]
        paths = [d["path"] for d in manifest["documents"]]
        assert paths == [".longreadignore", "app/main.py", "docs/guide.md"]
        assert f"return '{says}'" in text and "not for the pack" not in text
    assert [p.name.rsplit("-", 1)[1] for p in _checkouts(tmp_path)] == sorted(
        [served.first, served.second])


def test_without_a_ref_the_default_branch_is_packed(tmp_path: Path, served: Served) -> None:
    manifest, _ = _packed(tmp_path, f"{served.daemon}/proj.git")
    assert manifest["sources"] == [{"url": f"{served.daemon}/proj.git", "commit": served.second}]


@pytest.mark.slow
def test_a_second_run_on_the_same_commit_fetches_nothing(tmp_path: Path, served: Served) -> None:
    by_commit = f"{served.daemon}/proj.git@{served.first}"
    _packed(tmp_path, by_commit)
    fetched = daemon_requests(served.log)
    [checkout] = _checkouts(tmp_path)
    inode = checkout.stat().st_ino
    _packed(tmp_path, by_commit)
    assert daemon_requests(served.log) == fetched == 1  # a known commit id needs no network
    by_branch = f"{served.daemon}/proj.git@main"
    _packed(tmp_path, by_branch)
    assert daemon_requests(served.log) == fetched + 2  # ls-remote, then the fetch
    _packed(tmp_path, by_branch)
    assert daemon_requests(served.log) == fetched + 3  # ls-remote only
    assert checkout.stat().st_ino == inode and len(_checkouts(tmp_path)) == 2
    _packed(tmp_path, f"{served.daemon}/proj.git@v1")  # an annotated tag of the commit held
    assert daemon_requests(served.log) == fetched + 4  # ls-remote only: the tag peeled
    assert len(_checkouts(tmp_path)) == 2


def test_file_urls_work_and_ids_are_relative_to_the_repository(
    tmp_path: Path, served: Served
) -> None:
    url = f"file://{served.base}/proj.git"
    manifest, text = _packed(tmp_path, f"{url}@v1", "--line-numbers")
    assert manifest["sources"] == [{"url": url, "commit": served.first}]
    assert '<document id="app/main.py"' in text and str(tmp_path) not in text


def test_the_python_api_takes_a_url_too(tmp_path: Path, served: Served) -> None:
    pack = api.pack(f"{served.daemon}/proj.git@v1",
                    settings=Settings(cache_dir=tmp_path / "cache"))
    assert [s.commit for s in pack.manifest.sources] == [served.first]
    source = api.read_source(f"{served.daemon}/proj.git@v1", "app/main.py",
                             settings=Settings(cache_dir=tmp_path / "cache"))
    assert source.lines == ("def main():", "    return 'one'")


def test_a_url_beside_another_path_is_refused_before_any_fetch(
    tmp_path: Path, served: Served
) -> None:
    result = _pack(tmp_path, f"{served.daemon}/proj.git", str(served.base))
    assert result.exit_code == 2 and "the only PATH" in result.output
    assert daemon_requests(served.log) == 0 and _checkouts(tmp_path) == []


@pytest.fixture
def http(served: Served) -> Iterator[SmartHttp]:
    """The same repository over smart HTTP, public at /proj.git and private at /private/."""
    (served.base / "private").mkdir()
    git(served.base, "clone", "-q", "--bare", str(served.base / "proj.git"),
        str(served.base / "private" / "proj.git"))
    with SmartHttp(served.base, TOKEN) as server:
        yield server


def test_smart_http_public_repository(tmp_path: Path, served: Served, http: SmartHttp) -> None:
    manifest, _ = _packed(tmp_path, f"{http.url}/proj.git@v1")
    assert manifest["sources"][0]["commit"] == served.first


def test_a_token_from_the_environment_opens_a_private_repository_and_rests_nowhere(
    tmp_path: Path, served: Served, http: SmartHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = tmp_path / "stored-credentials"
    (tmp_path / "user.gitconfig").write_text(
        f"[credential]\n\thelper = store --file {stored}\n", encoding="utf-8")
    monkeypatch.setenv("LONGREAD_GIT_TOKEN", TOKEN)
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "-v", "pack",
                                      f"{http.url}/private/proj.git@main", "--json",
                                      "-o", str(tmp_path / "pack.xml")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sources"][0]["commit"] == served.second
    assert any(auth.startswith("Basic ") for _, _, auth in http.requests)
    assert TOKEN not in result.output and not stored.exists()  # no helper saw it
    _assert_nowhere_under(tmp_path / "cache", TOKEN)


@pytest.mark.slow
def test_git_own_credential_helper_opens_a_private_repository(
    tmp_path: Path, served: Served, http: SmartHttp
) -> None:
    (tmp_path / "user.gitconfig").write_text(  # the user's own helper answers for this host
        f'[credential "{http.url}"]\n\thelper = "!f() {{ echo username=ci; '
        f'echo password={TOKEN}; }}; f"\n', encoding="utf-8")
    manifest, _ = _packed(tmp_path, f"{http.url}/private/proj.git@v1")
    assert manifest["sources"][0]["commit"] == served.first


def test_summarize_takes_a_url(tmp_path: Path, served: Served) -> None:
    """The corpus is fetched and packed; only the backend (nothing listens) is missing: exit 4."""
    result = CliRunner().invoke(cli, [
        "--cache-dir", str(tmp_path / "cache"), "summarize", f"{served.daemon}/proj.git@v1",
        "--backend", "openai", "--base-url", f"http://127.0.0.1:{free_port()}/v1"],
        env={"LONGREAD_MAX_RETRIES": "0"})
    assert result.exit_code == 4, result.output
    assert [p.name.rsplit("-", 1)[1] for p in _checkouts(tmp_path)] == [served.first]


@pytest.mark.slow
def test_a_token_in_the_url_is_used_and_stripped_everywhere(
    tmp_path: Path, served: Served, http: SmartHttp
) -> None:
    bare = http.url.removeprefix("http://")
    manifest, text = _packed(tmp_path, f"http://ci:{TOKEN}@{bare}/private/proj.git@v1")
    assert manifest["sources"][0]["url"] == f"{http.url}/private/proj.git"
    assert TOKEN not in json.dumps(manifest) and TOKEN not in text
    _assert_nowhere_under(tmp_path / "cache", TOKEN)


def _assert_nowhere_under(folder: Path, secret: str) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def _assert_one_line_exit_3(tmp_path: Path, result: Result, says: str) -> None:
    assert result.exit_code == 3, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("longread: error: ") and says in lines[0]
    assert _checkouts(tmp_path) == []


@pytest.mark.slow
def test_a_wrong_token_is_one_line_exit_3_without_the_token(
    tmp_path: Path, http: SmartHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "wrong-" + TOKEN
    monkeypatch.setenv("LONGREAD_GIT_TOKEN", wrong)
    result = _pack(tmp_path, f"{http.url}/private/proj.git@main")
    _assert_one_line_exit_3(tmp_path, result, "authentication failed")
    assert wrong not in result.output
    bare = http.url.removeprefix("http://")
    result = _pack(tmp_path, f"http://ci:{wrong}@{bare}/private/proj.git@main")
    _assert_one_line_exit_3(tmp_path, result, "authentication failed")
    assert wrong not in result.output


def test_without_credentials_a_private_repository_is_an_auth_failure(
    tmp_path: Path, http: SmartHttp
) -> None:
    result = _pack(tmp_path, f"{http.url}/private/proj.git")
    _assert_one_line_exit_3(tmp_path, result, "authentication failed")


def test_unknown_host_ref_and_non_repositories_are_one_line_exit_3(
    tmp_path: Path, served: Served, http: SmartHttp
) -> None:
    cases = {
        "git://no-such-host.invalid/proj.git": "cannot reach the host",
        f"git://127.0.0.1:{free_port()}/proj.git": "cannot reach the host",
        f"{served.daemon}/proj.git@no-such-branch": "no branch or tag 'no-such-branch'",
        f"{served.daemon}/proj.git@{'0' * 40}": "no such branch, tag or commit",
        f"{served.daemon}/missing.git": "is not a git repository",
        f"{http.url}/missing.git@main": "is not a git repository",
        f"file://{served.base}/missing.git": "is not a git repository",
        f"file://{tmp_path}": "is not a git repository",
    }
    for url, says in cases.items():
        _assert_one_line_exit_3(tmp_path, _pack(tmp_path, url), says)


@pytest.fixture
def hostile(tmp_path: Path, served: Served) -> Iterator[tuple[str, FaultServer]]:
    """A repository whose longread.toml turns redaction off and picks a backend URL (a server
    that records what reaches it); yields its git:// URL and that server."""
    with FaultServer() as server:
        make_repo(served.base / "hostile.git", {
            "app/settings.py": f"AWS_ACCESS_KEY_ID = '{AWS_KEY}'\n",
            "longread.toml": HOSTILE_CONFIG.format(url=server.url),
        })
        yield f"{served.daemon}/hostile.git", server


@pytest.mark.slow
def test_a_remote_config_cannot_turn_redaction_off_unless_trusted(
    tmp_path: Path, hostile: tuple[str, FaultServer]
) -> None:
    _, text = _packed(tmp_path, hostile[0])
    assert AWS_KEY not in text and "app/settings.py" in text
    manifest, trusted = _packed(tmp_path, hostile[0], "--trust-remote-config")
    assert AWS_KEY in trusted and manifest["sources"]  # trusted, yet its cache stays the user's
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.slow
def test_a_remote_config_cannot_choose_the_backend_url_unless_trusted(
    tmp_path: Path, hostile: tuple[str, FaultServer]
) -> None:
    url, server = hostile
    (tmp_path / "longread.toml").write_text(  # the user's own: a server that is not there
        f'base-url = "http://127.0.0.1:{free_port()}/v1"\nmax-retries = 0\n', encoding="utf-8")
    args = ["--cache-dir", str(tmp_path / "cache"), "ask", url, "What is the key?",
            "--backend", "openai"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 4 and server.seen == [], result.output
    CliRunner().invoke(cli, [*args, "--trust-remote-config"])
    assert server.seen != []


def test_serve_takes_a_url_and_names_it(
    tmp_path: Path, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WebServer, "run", lambda self: None)
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "serve",
                                      f"{served.daemon}/proj.git@v1", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert f"serving {served.daemon}/proj.git@{served.first[:12]} at" in result.output
    assert len(_checkouts(tmp_path)) == 1


@pytest.mark.slow
def test_mcp_over_stdio_serves_a_url_with_ids_relative_to_the_repository(
    tmp_path: Path, served: Served
) -> None:
    params = StdioServerParameters(
        command=str(Path(sys.executable).parent / "longread"),
        args=["--cache-dir", str(tmp_path / "cache"), "mcp", f"{served.daemon}/proj.git@v1"],
        cwd=str(tmp_path))
    seen: dict[str, str] = {}

    async def main() -> None:
        async with Client(params) as client:
            read = await client.call_tool("read", {"path": "app/main.py"})
            seen["read"] = "".join(getattr(block, "text", "") for block in read.content)

    anyio.run(main)
    assert "2\t    return 'one'" in seen["read"]


@pytest.mark.slow
def test_a_server_that_never_answers_is_one_line_exit_3_after_the_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import time

    from longread.ingest import remote

    monkeypatch.setattr(remote, "LS_REMOTE_TIMEOUT", 2.0)  # the limit, shortened for the test
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        result = _pack(tmp_path, f"git://127.0.0.1:{silent.getsockname()[1]}/proj.git@main")
    _assert_one_line_exit_3(tmp_path, result, "timed out")
    assert time.monotonic() - started < 10


def test_cache_clear_ingest_removes_the_fetched_checkouts(tmp_path: Path, served: Served) -> None:
    _packed(tmp_path, f"{served.daemon}/proj.git@v1")
    assert _checkouts(tmp_path)
    cache = ["--cache-dir", str(tmp_path / "cache")]
    cleared = CliRunner().invoke(cli, [*cache, "cache", "clear", "--ingest", "--yes"])
    assert cleared.exit_code == 0, cleared.output
    assert "removed the fetched checkouts in" in cleared.output and not _checkouts(tmp_path)
    again = CliRunner().invoke(cli, [*cache, "cache", "clear", "--all", "--yes"])
    assert again.exit_code == 0 and "checkouts in" in again.output and "(0 B)" in again.output


def test_sigterm_while_git_fetches_ends_git_too(tmp_path: Path) -> None:
    """A cancelled CI job (SIGTERM) must not leave git talking to a server that never answers."""
    import socket
    import subprocess
    import time

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/stalled.git"
        run = subprocess.Popen([sys.executable, "-m", "longread.analysis.cli", "--cache-dir",
                                str(tmp_path / "cache"), "pack", url], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)

        def gits() -> list[str]:
            found = subprocess.run(["pgrep", "-f", f"^git[ -].*{url}"], capture_output=True,
                                   text=True)
            return found.stdout.split()

        deadline = time.monotonic() + 60
        while not gits() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gits(), "git never started"
        run.terminate()
        assert run.wait(timeout=20) == 143
        deadline = time.monotonic() + 10
        while gits() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gits() == []


def test_a_repository_larger_than_the_fetch_cap_is_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    base = tmp_path / "srv"
    make_repo(base / "big.git", {"data.bin": os.urandom(3 * 2**20).hex(), "a.py": "x = 1\n"})
    monkeypatch.setattr("longread.ingest.git_process.MAX_FETCH_BYTES", 2**20)
    monkeypatch.setattr("longread.ingest.git_process.FETCH_POLL", 0.01)
    with git_daemon(base, tmp_path / "daemon.log") as daemon:
        result = _pack(tmp_path, f"{daemon}/big.git")
    assert result.exit_code == 3, result.output
    assert result.stderr.strip().splitlines() == [
        f"longread: error: {daemon}/big.git is larger than longread fetches (1 MiB on disk)"]
    assert _checkouts(tmp_path) == []


def test_a_user_name_alone_in_the_url_is_completed_by_the_users_credential_helper(
    tmp_path: Path, served: Served, http: SmartHttp
) -> None:
    """`https://alice@host/repo` (Azure DevOps URLs look so): git asks alice's helper."""
    (tmp_path / "user.gitconfig").write_text(  # answers only when git names the user alice
        f'[credential "{http.url}"]\n\thelper = "!f() {{ test $1 = get && '
        f'grep -q ^username=alice$ && echo password={TOKEN}; }}; f"\n', encoding="utf-8")
    bare = http.url.removeprefix("http://")
    manifest, _ = _packed(tmp_path, f"http://alice@{bare}/private/proj.git@v1")
    assert manifest["sources"][0] == {"url": f"{http.url}/private/proj.git",
                                      "commit": served.first}
