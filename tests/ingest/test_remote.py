"""How a PATH argument is read as a git URL: what git is given, what is shown, what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from longread.ingest.errors import UsageError
from longread.ingest.remote import checkout_name, parse_remote


def test_https_userinfo_leaves_the_url_and_a_ref_with_slashes_is_kept() -> None:
    remote = parse_remote("https://ci:tok3n@git.example.com/team/app.git@feature/x")
    assert remote is not None
    assert (remote.url, remote.shown, remote.ref) == (
        "https://git.example.com/team/app.git", "https://git.example.com/team/app.git",
        "feature/x")
    assert (remote.username, remote.password) == ("ci", "tok3n")
    assert "tok3n" not in repr(remote)
    as_user = parse_remote("https://ghp_x1y2z3@github.com/team/app")
    assert as_user is not None and "ghp_x1y2z3" not in repr(as_user) + as_user.url


def test_userinfo_is_percent_decoded_and_a_password_with_an_at_sign_is_never_shown() -> None:
    remote = parse_remote("https://ci:p%40ss%3Aw@git.example.com/team/app.git")
    assert remote is not None and (remote.username, remote.password) == ("ci", "p@ss:w")
    with pytest.raises(UsageError) as refused:
        parse_remote("https://ci:p@ss@git.example.com/team/app.git@bad..ref")
    assert "ss@" not in str(refused.value) and "p@ss" not in str(refused.value)


def test_an_ssh_login_is_kept_for_git_but_not_shown() -> None:
    remote = parse_remote("ssh://git@host:2222/team/app.git@v1")
    assert remote is not None and remote.url == "ssh://git@host:2222/team/app.git"
    assert remote.shown == "ssh://host:2222/team/app.git" and remote.ref == "v1"
    scp = parse_remote("git@github.com:team/app.git@main")
    assert scp is not None and (scp.url, scp.shown, scp.ref, scp.protocol) == (
        "git@github.com:team/app.git", "github.com:team/app.git", "main", "ssh")


def test_a_local_path_stays_local_whatever_it_looks_like(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes:2024").mkdir()
    assert parse_remote("notes:2024") is None
    assert parse_remote("docs/guide.md") is None and parse_remote(".") is None


@pytest.mark.parametrize("arg", [
    "https://host/app.git@-upload-pack=x", "https://host/app.git@main:refs/heads/x",
    "https://host/app.git@a..b", "https://host", "ext://host/x",
])
def test_what_git_could_read_as_an_option_or_a_refspec_is_refused(arg: str) -> None:
    with pytest.raises(UsageError):
        parse_remote(arg)


def test_git_transports_that_run_commands_are_never_urls() -> None:
    assert parse_remote("ext::sh -c touch% /tmp/pwned") is None  # a (missing) local path
    assert parse_remote("-oProxyCommand=x:repo") is None
    assert parse_remote("git@-oProxyCommand=x:repo") is None


def test_the_cache_key_is_the_url_without_credentials_and_the_commit() -> None:
    plain = parse_remote("https://host/team/app.git")
    with_token = parse_remote("https://ci:tok3n@host/team/app.git@main")
    assert plain is not None and with_token is not None
    assert checkout_name(plain, "a" * 40) == checkout_name(with_token, "a" * 40)
    assert checkout_name(plain, "a" * 40).startswith("app-")
