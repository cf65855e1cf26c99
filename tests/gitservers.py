"""Real git servers on 127.0.0.1 for tests: `git daemon` (git://) and smart HTTP (`git
http-backend` behind a small CGI-style server, with HTTP Basic auth for private repositories).

Both log every request, so a test can tell whether a run reached the network at all.
"""

from __future__ import annotations

import base64
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from tests.httpthread import ThreadedServer

GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": "/nonexistent",
           "PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C"}


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` with no user config; its stdout."""
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                          capture_output=True, text=True, check=True, env=GIT_ENV)
    return done.stdout


def make_repo(folder: Path, files: dict[str, str], *, branch: str = "main") -> str:
    """A bare repository at `folder` whose `branch` holds `files` in one commit; the commit id."""
    work = folder.with_name(folder.name + ".work")
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", branch)
    for relpath, text in files.items():
        (work / relpath).parent.mkdir(parents=True, exist_ok=True)
        (work / relpath).write_text(text, encoding="utf-8")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "first")
    git(work.parent, "clone", "-q", "--bare", str(work), str(folder))
    return git(work, "rev-parse", "HEAD").strip()


def commit_more(bare: Path, files: dict[str, str], *, tag: str | None = None) -> str:
    """Commit `files` on top of the bare repository's branch (tagged `tag`); the new commit id."""
    work = bare.with_name(bare.name + ".work")
    for relpath, text in files.items():
        (work / relpath).write_text(text, encoding="utf-8")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "more")
    if tag:
        git(work, "tag", "-a", tag, "-m", tag)
    git(work, "push", "-q", "--follow-tags", str(bare), "HEAD")
    return git(work, "rev-parse", "HEAD").strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def git_daemon(base: Path, log: Path) -> Iterator[str]:
    """`git daemon` exporting every repository under `base`; yields `git://127.0.0.1:PORT`.
    Each request is a `Request upload-pack` line in `log`."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["git", "daemon", f"--base-path={base}", "--export-all", "--reuseaddr", "--verbose",
             "--listen=127.0.0.1", f"--port={port}", "--log-destination=stderr", str(base)],
            stdout=subprocess.DEVNULL, stderr=out, env=GIT_ENV)
        try:
            _wait_for(port, proc)
            yield f"git://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def daemon_requests(log: Path) -> int:
    return log.read_text(encoding="utf-8").count("Request upload-pack")


def _wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("git daemon exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("git daemon did not start")


class SmartHttp(ThreadedServer):
    """`git http-backend` for the repositories under `base`, at `url`; paths under `/private/`
    need HTTP Basic auth with password `token`. `requests` lists (method, path, authorization)."""

    def __init__(self, base: Path, token: str) -> None:
        self.base, self.token = base, token
        self.requests: list[tuple[str, str, str]] = []
        super().__init__(_cgi_handler(self))

    @property
    def url(self) -> str:
        return self.root

    def allowed(self, path: str, authorization: str) -> bool:
        if not path.startswith("/private/"):
            return True
        kind, _, encoded = authorization.partition(" ")
        if kind != "Basic":
            return False
        password = base64.b64decode(encoded).decode().partition(":")[2]
        return password == self.token


def _cgi_handler(server: SmartHttp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, *args: object) -> None:
            pass

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            authorization = self.headers.get("Authorization", "")
            server.requests.append((method, parts.path, authorization))
            if not server.allowed(parts.path, authorization):
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._backend(method, parts.path, parts.query, body)

        def _backend(self, method: str, path: str, query: str, body: bytes) -> None:
            env = {**GIT_ENV, "GIT_PROJECT_ROOT": str(server.base), "GIT_HTTP_EXPORT_ALL": "1",
                   "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
                   "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                   "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1",
                   "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                   "GIT_PROTOCOL": self.headers.get("Git-Protocol", "")}
            done = subprocess.run(["git", "http-backend"], input=body, capture_output=True,
                                  env=env, check=False)
            head, _, payload = done.stdout.partition(b"\r\n\r\n")
            if not _:
                head, _, payload = done.stdout.partition(b"\n\n")
            headers = [line.split(":", 1) for line in head.decode().splitlines() if ":" in line]
            status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
            self.send_response(status)
            for key, value in headers:
                if key.lower() != "status":
                    self.send_header(key, value.strip())
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
