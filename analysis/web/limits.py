"""How much work `longread serve` takes on at once, so no client can make it do unbounded work.

    Limits           the numbers, in ServeOptions:
      questions        questions in one /api/ask request
      queue            jobs admitted at once (JobQueue)
      mcp_sessions     open MCP sessions over /mcp (the SDK answers 503 past it), each closed
      mcp_idle_s       after this long without a request
      header_s         seconds a client has to send a request's headers (header_deadline)
      body_s           and then its body (guard.py)
    JobQueue         at most `queue` jobs admitted (one on the engine, the rest waiting their
                     turn on the event loop, holding no thread); when full, Busy (429 with
                     Retry-After); a job whose client leaves before its turn is dropped there
    QueuedEngine     the warm backend as MCP's tools borrow it over /mcp: through the same queue
                     (Busy is the tool's error)
    header_deadline  uvicorn's HTTP protocol with a deadline for a request's headers: uvicorn
                     itself waits forever on a client that connects and never finishes them
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.from_thread

from longread.analysis import api
from longread.ingest.errors import LongreadError
from longread.ingest.progress import Progress, no_progress

if TYPE_CHECKING:
    from longread.engine.backend import Backend

T = TypeVar("T")

RETRY_AFTER_S = 10


@dataclass(frozen=True)
class Limits:
    """How much one server takes on; the defaults suit one user and a few agents."""

    questions: int = 16
    queue: int = 32
    mcp_sessions: int = 64
    mcp_idle_s: float = 600.0
    header_s: float = 10.0
    body_s: float = 30.0


class Busy(LongreadError):
    """Too many jobs are waiting for the engine: try again later (HTTP 429)."""

    retry_after = RETRY_AFTER_S


class JobQueue:
    """The served jobs admitted now, running or waiting their turn; they run one at a time, in
    the order they came (asyncio's lock is fair). Used from the event loop only."""

    def __init__(self, cap: int) -> None:
        self.cap, self.admitted = cap, 0
        self._turn = asyncio.Lock()

    def admit(self) -> Ticket:
        """A place in the queue, or Busy when every place is taken."""
        if self.admitted >= self.cap:
            raise Busy(f"the server is busy: {self.admitted} jobs are running or waiting; "
                       f"try again in {RETRY_AFTER_S} s")
        self.admitted += 1
        return Ticket(self)


class Ticket:
    """One admitted job: it waits its turn, runs, and gives its place back exactly once."""

    def __init__(self, queue: JobQueue) -> None:
        self.queue, self.state = queue, "waiting"

    async def turn(self) -> None:
        """Waits until the jobs before this one are done; a client leaving cancels the wait."""
        await self.queue._turn.acquire()
        self.state = "turn"

    def start(self) -> None:
        self.state = "running"

    def finish(self) -> None:
        """The job is over (or never started): its turn and its place go to the next one."""
        if self.state == "done":
            return
        if self.state in ("turn", "running"):
            self.queue._turn.release()
        self.queue.admitted -= 1
        self.state = "done"

    def abandon(self) -> None:
        """The client left: a job not yet running is dropped; a running one finishes alone."""
        if self.state != "running":
            self.finish()


class QueuedEngine(api.WarmBackend):
    """`engine` for jobs run from a worker thread of the event loop that owns `jobs` (MCP's
    tools): each takes a place and waits its turn, as the JSON API's jobs do."""

    def __init__(self, engine: api.WarmBackend, jobs: JobQueue) -> None:  # no super(): a view
        self.engine, self.jobs = engine, jobs

    def run(self, job: Callable[[Backend], T], progress: Progress = no_progress) -> T:
        ticket = anyio.from_thread.run_sync(self.jobs.admit)
        try:
            anyio.from_thread.run(ticket.turn)
            ticket.start()
            return self.engine.run(job, progress)
        finally:
            anyio.from_thread.run_sync(ticket.finish)

    def close(self) -> None:
        self.engine.close()


def header_deadline(timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools or h11, whichever it picks), closing a connection whose
    request headers are not complete `timeout` seconds after it opened, or after the request's
    first byte on a kept-alive connection (a half-open or slow-drip client)."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    base: Any = AutoHTTPProtocol

    class HeaderDeadline(base):  # type: ignore[misc]
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            before = self.cycle
            if before is not None and before.response_complete:
                self._arm()  # a new request on a kept-alive connection
            super().data_received(data)
            if self.cycle is not before:  # its headers are in
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(timeout, self.transport.close)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

    return HeaderDeadline
