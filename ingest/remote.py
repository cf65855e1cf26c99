"""Git URLs as corpus paths: `URL[@ref]` fetched shallow into the cache, one folder per commit.

A PATH such as `https://host/repo.git@v1.2`, `ssh://git@host/repo`, `git@host:repo@main`,
`git://host/repo` or `file:///srv/repo.git@<40-hex>` becomes a checkout under
`<cache>/remote/`, named by the URL (without credentials) and the commit: a branch or tag is
resolved with one `git ls-remote`; a full commit id already fetched needs no network at all.
A fetch is `git init` + `git fetch --depth 1` + checkout in a `.partial-*` folder renamed into
place, so a failure leaves nothing behind and two runs never see half a checkout.

Credentials: git's own (credential helpers, the ssh agent), or a token handed in by the caller
(LONGREAD_GIT_TOKEN at the CLI) which reaches git only through GIT_ASKPASS's environment, never an
argument, a file, the cache key, the manifest or a message; it is offered over https (or http to
loopback) only, and no credential helper sees it (none could store it). A URL's user name
without a password (`https://alice@host/repo`) is handed to git, so the user's helper answers.
Git runs with no terminal prompts, only the URL's own protocol, no hooks, no submodules, fsck on
what is fetched, the user's global config for network steps only, and time limits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from longread.ingest.errors import CacheError, IngestError, UsageError
from longread.ingest.git_process import run_git

_log = logging.getLogger(__name__)
SCHEMES = ("https", "http", "ssh", "git", "file")
SOURCE_FILE = "longread-source.json"  # in the checkout's .git: the URL and commit it holds
LS_REMOTE_TIMEOUT = 120.0
FETCH_TIMEOUT = 1800.0
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
_SCP = re.compile(r"^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9][A-Za-z0-9.-]*:(?!//)[^\s]+$")
_REF = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/+-]+(?<![./])$")
_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
REMOTE_FOLDER = "remote"  # <cache>/remote/: one checkout a URL and commit
_USERINFO = re.compile(r"(://)[^/\s]*@")  # to the authority's last @: a password may hold one
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
# Environment git may keep from the user: how to reach hosts, never where repositories are.
_KEPT_GIT_ENV = ("GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSH_VARIANT", "GIT_ASKPASS", "GIT_SSL_CAINFO",
                 "GIT_SSL_CAPATH", "GIT_SSL_NO_VERIFY", "GIT_PROXY_COMMAND", "GIT_EXEC_PATH",
                 "GIT_HTTP_PROXY_AUTHMETHOD", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM",
                 "GIT_CONFIG_NOSYSTEM")
_HARDENED = ("core.hooksPath=/dev/null", "submodule.recurse=false",
             "fetch.recurseSubmodules=false", "transfer.fsckObjects=true", "core.fsmonitor=false",
             "core.autocrlf=false", "advice.detachedHead=false", "protocol.version=2")
_ASKPASS = '#!/bin/sh\ncase "$1" in\n  Username*) printf "%s\\n" "$LONGREAD_GIT_USERNAME" ;;\n' \
           '  *) printf "%s\\n" "$LONGREAD_GIT_PASSWORD" ;;\nesac\n'


@dataclass(frozen=True)
class RemoteSource:
    """What a checkout holds: the URL (no credentials) and the commit; not the ref it was asked
    by, since `main` and its commit id share one checkout."""

    url: str
    commit: str

    def to_json(self) -> dict[str, str]:
        return {"url": self.url, "commit": self.commit}


@dataclass(frozen=True)
class Remote:
    """A parsed `URL[@ref]`: `url` is what git is given (an ssh login kept, no password),
    `shown` what messages, the manifest and the cache key use (no userinfo at all)."""

    url: str
    shown: str
    protocol: str
    ref: str | None = None
    username: str | None = field(default=None, repr=False)  # alone, git's helpers complete it
    password: str | None = field(default=None, repr=False)

    @property
    def named(self) -> str:
        return self.shown if self.ref is None else f"{self.shown}@{self.ref}"


def parse_remote(arg: str) -> Remote | None:
    """`arg` as a git URL with an optional `@ref`, or None for a local path.

    A path that exists locally is local, whatever it looks like (`a:b` may be a file name)."""
    scheme = _SCHEME.match(arg)
    if scheme is None:
        if os.path.lexists(arg) or not _SCP.match(arg):
            return None
        return _parse_scp(arg)
    protocol = scheme.group(1).lower()
    if protocol not in SCHEMES:
        raise UsageError(f"{_scrub(arg)}: git URLs are {', '.join(SCHEMES)} (not {protocol}://)")
    return _parse_url(arg, protocol)


def _parse_url(arg: str, protocol: str) -> Remote:
    rest = arg[len(protocol) + 3:]
    authority, slash, path = rest.partition("/")
    path, ref = _split_ref(path)
    parts = urlsplit(f"{protocol}://{authority}/")
    host = authority.rpartition("@")[2]
    shown = f"{protocol}://{host}{slash}{path}"
    login = parts.username if protocol == "ssh" and parts.username else None
    url = f"{protocol}://{login}@{host}{slash}{path}" if login else shown
    username = None if protocol == "ssh" else _decoded(parts.username)
    _check_parts(arg, host if protocol != "file" else "localhost", path, ref)
    return Remote(url, shown, protocol, ref, username, _decoded(parts.password))


def _decoded(userinfo: str | None) -> str | None:
    """A URL's user or password as git would send it: percent-decoded (`p%40ss` is `p@ss`)."""
    return unquote(userinfo) if userinfo is not None else None


def _parse_scp(arg: str) -> Remote:
    """`[user@]host:path[@ref]`, git's scp-like ssh syntax."""
    login_host, _, path = arg.partition(":")
    path, ref = _split_ref(path)
    host = login_host.rpartition("@")[2]
    _check_parts(arg, host, path, ref)
    return Remote(f"{login_host}:{path}", f"{host}:{path}", "ssh", ref)


def _split_ref(path: str) -> tuple[str, str | None]:
    """`repo.git@feature/x` -> (`repo.git`, `feature/x`): the last `@` of the path names the ref."""
    head, at, ref = path.rpartition("@")
    return (head, ref) if at else (path, None)


def _check_parts(arg: str, host: str, path: str, ref: str | None) -> None:
    """Refuse what git could read as an option or a refspec, or what names no repository."""
    if not host or host.startswith("-") or not path.strip("/") or path.startswith("-"):
        raise UsageError(f"{_scrub(arg)} is not a git URL (give scheme://host/path[@ref])")
    if ref is not None and not _REF.match(ref):
        raise UsageError(f"{_scrub(arg)}: {ref!r} is not a branch, tag or commit name")


def fetch_remote(remote: Remote, cache_dir: Path, *, environ: Mapping[str, str],
                 token: str | None = None) -> Path:
    """The checkout of `remote` at its ref (the default branch without one), fetched when absent.

    IngestError (exit 3), one line without any credential, for an unknown host or ref, a failed
    authentication or a URL that is not a repository; nothing is left in `cache_dir` then."""
    folder = cache_dir / REMOTE_FOLDER
    with _askpass(remote, token) as auth:
        git = _Git(remote, environ, auth)
        if remote.ref is not None and _COMMIT.match(remote.ref):
            commit, wanted = remote.ref, remote.ref
        else:
            commit, wanted = git.resolve()
        checkout = folder / checkout_name(remote, commit)
        if checkout.is_dir():
            return checkout
        return git.fetch(folder, wanted)


def remove_checkouts(cache_dir: Path) -> int:
    """Delete every fetched checkout (`cache clear --ingest`); the bytes freed."""
    folder = cache_dir / REMOTE_FOLDER
    if not folder.is_dir():
        return 0
    freed = sum(p.lstat().st_size for p in folder.rglob("*") if not p.is_symlink() and p.is_file())
    shutil.rmtree(folder, ignore_errors=True)
    return freed


def checkout_name(remote: Remote, commit: str) -> str:
    """`<repo>-<hash of the URL>-<commit>`: the cache key, URL without credentials and commit."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", remote.shown.rstrip("/").rsplit("/", 1)[-1])
    name = name.removesuffix(".git") or "repo"
    digest = hashlib.sha256(remote.shown.encode("utf-8")).hexdigest()[:16]
    return f"{name[:40]}-{digest}-{commit}"


def source_of(root: Path, cache_dir: Path) -> RemoteSource | None:
    """The URL and commit a checkout under `cache_dir/remote` holds; None for any other root."""
    remote_dir = (cache_dir / REMOTE_FOLDER).resolve()
    try:
        if Path(root).resolve().parent != remote_dir:
            return None
        data = json.loads((root / ".git" / SOURCE_FILE).read_text(encoding="utf-8"))
        return RemoteSource(str(data["url"]), str(data["commit"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class _Git:
    """git run for one remote: network steps with the user's config and credentials, local
    steps without any global or system config (no filters, hooks or fsmonitor of theirs)."""

    def __init__(self, remote: Remote, environ: Mapping[str, str],
                 auth: Mapping[str, str]) -> None:
        self.remote = remote
        # A login without a secret is git's to complete (the user's credential helper); with a
        # secret it reaches git only through askpass, and the URL carries no userinfo.
        self.url = remote.url if auth or not remote.username else _with_login(remote)
        base = {key: value for key, value in environ.items()
                if not key.startswith("GIT_") or key in _KEPT_GIT_ENV}
        base |= {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GCM_INTERACTIVE": "never"}
        self.network_env = {**base, "GIT_ALLOW_PROTOCOL": remote.protocol,
                            "GIT_HTTP_LOW_SPEED_LIMIT": "1000", "GIT_HTTP_LOW_SPEED_TIME": "60",
                            **auth}
        self.local_env = {**base, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
        self.secrets = [s for s in (auth.get("LONGREAD_GIT_PASSWORD"), remote.password,
                                    remote.username) if s]
        # With a secret to offer: no helper may store it, and no redirect may take it elsewhere.
        self.helpers = ("credential.helper=", "http.followRedirects=false") if auth else ()

    def resolve(self) -> tuple[str, str]:
        """(commit, ref name to fetch) of the remote's ref, HEAD without one."""
        ref = self.remote.ref or "HEAD"
        # Both patterns: an annotated tag's own line names the tag object, its peeled `^{}` line
        # the commit the checkout is keyed by.
        listing = self._network(LS_REMOTE_TIMEOUT, "ls-remote", "--", self.url, ref,
                                f"{ref}^{{}}")
        found: dict[str, str] = {}
        for line in listing.splitlines():
            commit, _, name = line.partition("\t")
            found[name] = commit
        for name in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
            if name in found:
                return found.get(f"{name}^{{}}", found[name]), name
        hint = " (give a commit as its full id)" if re.fullmatch(r"[0-9a-f]{4,39}", ref) else ""
        raise IngestError(f"no branch or tag {ref!r} in {self.remote.shown}{hint}")

    def fetch(self, folder: Path, wanted: str) -> Path:
        """Fetch `wanted` shallow into a fresh folder, check it out, rename it into place; on
        any failure (Ctrl-C too) the folder goes, and `remote/` too when it is left empty."""
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            _remove_stale_partials(folder)
            partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder))
        except OSError as exc:
            raise CacheError(f"cannot fetch into {folder}: {exc.strerror or exc}") from exc
        try:
            commit = self._checkout(partial, wanted)
            return _move_into_place(partial, folder / checkout_name(self.remote, commit))
        except BaseException as exc:
            shutil.rmtree(partial, ignore_errors=True)
            _remove_if_empty(folder)
            if isinstance(exc, OSError):
                raise CacheError(f"cannot fetch into {folder}: {exc.strerror or exc}") from exc
            raise

    def _checkout(self, partial: Path, wanted: str) -> str:
        """`git init` + `git fetch --depth 1` + checkout in `partial`; the commit checked out."""
        self._local(partial, "init", "-q", "--template=", ".")
        self._network(FETCH_TIMEOUT, "-C", str(partial), "fetch", "-q", "--depth", "1",
                      "--no-tags", "--", self.url, wanted, grown=partial)
        commit = self._local(partial, "rev-parse", "--verify", "-q", "FETCH_HEAD^{commit}").strip()
        self._local(partial, "checkout", "-q", "--detach", commit)
        source = RemoteSource(self.remote.shown, commit)
        (partial / ".git" / SOURCE_FILE).write_text(json.dumps(source.to_json()) + "\n",
                                                    encoding="utf-8")
        return commit

    def _network(self, timeout: float, *args: str, grown: Path | None = None) -> str:
        step = "ls-remote" if "ls-remote" in args else "fetch"
        _log.info("git %s %s", step, self.remote.named)  # never a credential: see Remote
        return self._run(self.network_env, timeout, *_config(*_HARDENED, *self.helpers), *args,
                         grown=grown)

    def _local(self, cwd: Path, *args: str) -> str:
        return self._run(self.local_env, 60.0, *_config(*_HARDENED), "-C", str(cwd), *args)

    def _run(self, env: Mapping[str, str], timeout: float, *args: str,
             grown: Path | None = None) -> str:
        code, out, err = run_git(list(args), env, timeout, self.remote.named, grown)
        if code != 0:
            raise IngestError(self._explain(err))
        return out

    def _explain(self, stderr: str) -> str:
        """git's failure as one line naming the URL, never a credential."""
        named = self.remote.named
        return explain_failure(_scrub(stderr, self.secrets), named)


def explain_failure(stderr: str, named: str) -> str:
    """The one line for a failed git step: which of the known failures, else git's last word."""
    lowered = stderr.lower()
    for needles, message in _FAILURES:
        if any(needle in lowered for needle in needles):
            return message.format(named=named)
    last = [line.removeprefix("fatal: ") for line in stderr.splitlines() if line.strip()]
    return f"git could not fetch {named}: {last[-1] if last else 'no reason given'}"


_FAILURES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("not our ref", "couldn't find remote ref", "no such remote ref", "unadvertised object"),
     "no such branch, tag or commit in {named}"),
    (("authentication failed", "could not read username", "could not read password",
      "terminal prompts disabled", "permission denied", "access denied:", "returned error: 401",
      "returned error: 403", "host key verification failed"),
     "authentication failed for {named}"),
    (("could not resolve host", "name or service not known", "unable to look up",
      "temporary failure in name resolution", "no address associated", "connection refused",
      "failed to connect", "no route to host", "unable to connect", "connection timed out",
      "could not resolve hostname"),
     "cannot reach the host of {named}"),
    (("not a git repository", "does not appear to be a git repository", "not found",
      "not exported", "is this a git repository", "returned error: 404", "no such file",
      "protocol error", "not valid"),
     "{named} is not a git repository (or not one these credentials can read)"),
)


def _config(*pairs: str) -> list[str]:
    return [arg for pair in pairs for arg in ("-c", pair)]


@contextmanager
def _askpass(remote: Remote, token: str | None) -> Iterator[dict[str, str]]:
    """The environment that answers git's username and password questions with the token (or
    the URL's password) through a script that holds neither; {} without a secret to offer (a
    bare `https://alice@host/repo` is the user's credential helper's to complete)."""
    secret = token or remote.password
    if not secret or not _may_send_secret(remote):
        yield {}
        return
    with tempfile.TemporaryDirectory(prefix="longread-askpass-") as folder:
        script = Path(folder) / "askpass"
        script.write_text(_ASKPASS, encoding="utf-8")
        script.chmod(0o700)
        yield {"GIT_ASKPASS": str(script), "SSH_ASKPASS": str(script),
               "LONGREAD_GIT_USERNAME": remote.username or "x-access-token",
               "LONGREAD_GIT_PASSWORD": secret or ""}


def _with_login(remote: Remote) -> str:
    """`https://alice@host/repo`: the URL's user name handed on, as the user's helper expects."""
    scheme, _, rest = remote.url.partition("://")
    return f"{scheme}://{quote(remote.username or '', safe='')}@{rest}"


def _may_send_secret(remote: Remote) -> bool:
    """A secret goes over https, or plain http to this machine; never in clear across a network."""
    if remote.protocol == "https":
        return True
    host = (urlsplit(remote.shown).hostname or "").lower()
    return remote.protocol == "http" and (host in _LOOPBACK or host.startswith("127."))


def _move_into_place(partial: Path, checkout: Path) -> Path:
    """Rename the finished fetch to its key; a run that got there first wins (same commit)."""
    try:
        os.rename(partial, checkout)
    except OSError:
        if not checkout.is_dir():
            raise
        shutil.rmtree(partial, ignore_errors=True)
    return checkout


def _remove_stale_partials(folder: Path) -> None:
    """Fetches a killed run left (SIGKILL skips every cleanup), once older than any live one."""
    for partial in folder.glob(".partial-*"):
        with suppress(OSError):  # another run may remove it first
            if time.time() - partial.stat().st_mtime > 2 * FETCH_TIMEOUT:
                shutil.rmtree(partial, ignore_errors=True)


def _remove_if_empty(folder: Path) -> None:
    with suppress(OSError):
        folder.rmdir()


def _scrub(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """`text` without URL userinfo or any of `secrets` (git may echo a URL it was given)."""
    text = _USERINFO.sub(r"\1", text)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
