"""A real `longread serve` (uvicorn) in a thread of the test's own process, so it sees the fakes
the test registered; shared by every test that drives the served API."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from longread.analysis.config import Settings
from longread.analysis.web.server import ServedCorpus, ServeOptions, WebServer

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
