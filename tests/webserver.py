"""A real `longread serve` (uvicorn) in a thread of the test's own process, so it sees the fakes
the test registered; and the served corpus, the scripted reply and the token that every test of
the served API shares."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from longread.analysis.config import Settings, load_settings
from longread.analysis.web.limits import Limits
from longread.analysis.web.server import ServedCorpus, ServeOptions, WebServer
from longread.ingest.corpus_spec import CorpusSpec
from tests.trees import write_files

START_S = 20


@contextmanager
def running(settings: Settings, options: ServeOptions) -> Iterator[str]:
    """Starts the server on its port (0: a free one), yields its URL on 127.0.0.1, stops it."""
    server = WebServer(ServedCorpus(settings, options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_S
    while not server.server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield server.url.replace("0.0.0.0", "127.0.0.1")
    finally:
        server.stop()
        thread.join(10)


APP = 'import sqlite3\n\ndef save(note):\n    db = sqlite3.connect("notes.db")\n' \
      '    return db.execute("insert into notes values (?)", (note,))\n'
REPLY = "Notes are saved by `save` in `app.py:3-4`; see also `gone.py:1`."
SECRET = "TOP-SECRET-OUTSIDE-THE-CORPUS"
TOKEN = "s3cret-s3cret-s3cret"


def scripted_reply(_system: str) -> str:
    return REPLY


def make_corpus(root: Path) -> Path:
    """A git repo: code, a README, a binary and a secrets file (both skipped), and a symlink out."""
    corpus = root / "proj"
    write_files(corpus, {"app.py": APP, "README.md": "# Notes\nA notes app.\n",
                         "docs/guide.md": "# Guide\n" + "Use the app.\n" * 40,
                         "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00binary",
                         ".env": "API_KEY=sk-live-0123456789abcdef0123456789abcdef\n"})
    write_files(root / "outside", {"secret.txt": SECRET + "\n"})
    (corpus / "leak.txt").symlink_to(root / "outside" / "secret.txt")
    subprocess.run(["git", "init", "-q", str(corpus)], check=True)
    return corpus


@contextmanager
def serving(tmp_path: Path, corpus: Path, *, host: str = "127.0.0.1",
            token: str | None = None, budget: int | None = None,
            limits: Limits | None = None) -> Iterator[str]:
    """A real server on a free port in a thread of this process (it sees the scripted backend);
    yields its URL on 127.0.0.1."""
    settings = load_settings({"cache_dir": str(tmp_path / "cache"), "backend": "scripted"},
                             environ={}, cwd=tmp_path)
    options = ServeOptions(CorpusSpec.of([corpus]), host=host, port=0, token=token,
                           budget=budget, limits=limits or Limits())
    with running(settings, options) as url:
        yield url
