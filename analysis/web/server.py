"""`longread serve`: one process that keeps the engine warm and serves a page, a JSON API and MCP.

    ServedCorpus     the page's and the JSON API's view of ONE api.Corpus: the corpus, ONE
                     backend session opened on first use and lent to one request at a time, so
                     vLLM's prefix cache serves later questions, and ONE api.CorpusSource, the
                     corpus read and redacted once for every citation opened; MCP shares both
    check_token      a token long enough to guess at no faster than the network allows
    guard            ASGI middleware in front of everything, /mcp included: token, Host, other
                     sites' pages, body cap, security headers (see there)
    limits           how much work the server takes on at once (see there)
    routes           the page, /api/ask, /api/summarize, /api/source, /api/pack (see there)

Safe by default: bound to loopback; any other address needs a token (16 characters or more), or
the server does not start. Everything goes through `api.Corpus` (the one door, as for the CLI
and MCP); its documents are read through `api.CorpusSource`, which serves corpus documents only.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longread.analysis import api
from longread.analysis.config import Settings
from longread.analysis.web.guard import LOOPBACK
from longread.analysis.web.limits import JobQueue, Limits, header_deadline
from longread.ingest.corpus_spec import CorpusSpec
from longread.ingest.errors import UsageError
from longread.ingest.progress import Progress, no_progress

MIN_TOKEN = 16


@dataclass(frozen=True)
class ServeOptions:
    """What `longread serve` was asked to serve, and where."""

    corpus: CorpusSpec
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    budget: int | None = None
    limits: Limits = Limits()


def check_bind(host: str, token: str | None) -> None:
    """Loopback needs nothing; any other address serves the corpus to a network, so a token."""
    if host not in LOOPBACK and not token:
        raise UsageError(f"serving on {host} needs a token: give LONGREAD_SERVE_TOKEN or "
                         "--token-file (or bind to 127.0.0.1)")


def check_token(token: str | None) -> None:
    """A token is at least MIN_TOKEN characters with no white space (a blank one guards nothing)."""
    if token is not None and (len(token) < MIN_TOKEN or any(c.isspace() for c in token)):
        raise UsageError(f"the token needs {MIN_TOKEN} or more characters and no spaces; make "
                         "one with: python -c 'import secrets; print(secrets.token_urlsafe())'")


def given_token(token: str | None, token_file: Path | None) -> str | None:
    """The token from --token / LONGREAD_SERVE_TOKEN, or the first line of --token-file (which,
    unlike a flag, no other user sees in `ps`)."""
    if token_file is None:
        return token or None
    if token:
        raise UsageError("give the token once: --token (or LONGREAD_SERVE_TOKEN) or --token-file")
    try:
        lines = token_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the token file {token_file}: {exc}") from exc
    return lines[0] if lines else ""


class ServedCorpus:
    """The corpus behind every request, as JSON: one api.Corpus (its warm session, its sources)."""

    def __init__(self, settings: Settings, options: ServeOptions) -> None:
        self.settings, self.options = settings, options
        self.corpus = api.Corpus(options.corpus, settings=settings, budget=options.budget)
        self.jobs = JobQueue(options.limits.queue)
        self._manifest: dict[str, Any] | None = None

    def ask(self, questions: Sequence[str], progress: Progress = no_progress) -> dict[str, Any]:
        """The same JSON as `longread ask --json`."""
        result = self.corpus.ask(list(questions), progress=progress)
        self._manifest = result.pack.manifest.to_json()
        return result.to_json()

    def summarize(self, focus: str | None, progress: Progress = no_progress) -> dict[str, Any]:
        """The same JSON as `longread summarize --json`."""
        result = self.corpus.summarize(focus, progress=progress)
        self._manifest = result.pack.manifest.to_json()
        return result.to_json()

    @property
    def manifest_known(self) -> bool:
        """True once `manifest` needs no job on the engine."""
        return self._manifest is not None

    def manifest(self) -> dict[str, Any]:
        """The manifest of the last pack a job used; before any, the pack a question would get,
        counted with the model's tokenizer (the same for every question unless a --budget makes
        the ranking matter)."""
        if self._manifest is None:
            self._manifest = self.corpus.model_pack().manifest.to_json()
        return self._manifest

    def source(self, path: str, start: int | None, end: int | None,
               page: int | None, place: str | None = None) -> dict[str, Any]:
        """Lines of a corpus document as the pack shows them (CorpusSource refuses the rest), at
        most api.MAX_LINES a request; "next" in the reply is where the rest starts."""
        return self.corpus.read(path, start, end, page, place).to_json()

    def close(self) -> None:
        self.corpus.close()


class WebServer:
    """uvicorn serving the app on a socket bound up front: a busy port is one clear error, and
    port 0 (tests) gives a free port whose URL is known before the server runs."""

    def __init__(self, corpus: ServedCorpus) -> None:
        import uvicorn

        from longread.analysis.web.guard import Guard
        from longread.analysis.web.routes import build_app, page_policy

        options = corpus.options
        check_token(options.token)
        check_bind(options.host, options.token)
        self.socket = _listen(options.host, options.port)
        app = Guard(build_app(corpus), token=options.token, policy=page_policy(),
                    body_s=options.limits.body_s)
        self.server = uvicorn.Server(uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2,
            http=header_deadline(options.limits.header_s)))

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

    def run(self) -> None:
        """Serve until Ctrl-C (or `stop`)."""
        self.server.run(sockets=[self.socket])

    def stop(self) -> None:
        self.server.should_exit = True


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
