"""`longread serve` under load: asks that wait on the one engine, or whose client left, hold none of
the threads that serve /api/source, /api/pack and MCP (a real server on 127.0.0.1, in a thread of
this process, its engine a scripted backend held busy by the test). test_web_limits.py holds the
caps themselves."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from longread.analysis.web.limits import Limits
from tests.fakes import register_scripted
from tests.webserver import APP, REPLY, make_corpus, serving

# anyio's default pool has 40 threads; more asks than that used to take every one of them (the
# queue's cap is raised past it here, to show that waiting asks hold none)
ASKS = 44


@pytest.fixture
def engine_busy(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The scripted engine answers only once the test sets the event (it is set at the end)."""
    release = threading.Event()

    def reply(_system: str) -> str:
        release.wait(60)
        return REPLY

    register_scripted(monkeypatch, reply)
    yield release
    release.set()


@contextmanager
def busy_serving(tmp_path: Path, release: threading.Event) -> Iterator[str]:
    """`serving` a corpus whose engine is busy until `release` is set (at the latest on the way
    out, so a failing test does not leave jobs blocked in a stopping server)."""
    with serving(tmp_path, make_corpus(tmp_path), limits=Limits(queue=ASKS + 1)) as url:
        try:
            yield url
        finally:
            release.set()


def _source_answers(url: str) -> httpx.Response:
    return httpx.get(url + "api/source", params={"path": "app.py", "start": 3, "end": 4},
                     timeout=10)


def test_abandoned_event_streams_hold_no_thread_and_the_server_stays_answerable(
    tmp_path: Path, engine_busy: threading.Event
) -> None:
    with busy_serving(tmp_path, engine_busy) as url, httpx.Client(timeout=30) as client:
        packed = httpx.get(url + "api/pack", timeout=30)  # counted before the engine is busy
        for n in range(ASKS):  # each one waits on the engine; its client leaves after the headers
            with client.stream("POST", url + "api/ask", json={"question": f"Where {n}?"},
                               headers={"Accept": "text/event-stream"}) as response:
                assert response.status_code == 200
        source = _source_answers(url)
        manifest = httpx.get(url + "api/pack", timeout=10)
        engine_busy.set()  # the abandoned jobs were dropped; a new question is answered
        answer = httpx.post(url + "api/ask", json={"question": "Where?"}, timeout=60)
    assert source.status_code == 200 and source.json()["lines"] == APP.split("\n")[2:4]
    assert manifest.status_code == 200 and manifest.json() == packed.json()
    assert answer.status_code == 200 and answer.json()["answers"][0]["answer"] == REPLY


@pytest.mark.slow
def test_waiting_asks_do_not_hold_the_threads_of_other_requests(
    tmp_path: Path, engine_busy: threading.Event
) -> None:
    with busy_serving(tmp_path, engine_busy) as url, ThreadPoolExecutor(ASKS + 1) as pool:
        asks = [pool.submit(httpx.post, url + "api/ask", json={"question": f"Why {n}?"},
                            timeout=120) for n in range(ASKS)]
        streamed = pool.submit(httpx.post, url + "api/ask", json={"question": "How?"},
                               headers={"Accept": "text/event-stream"}, timeout=120)
        threading.Event().wait(1.0)  # every ask is in: one on the engine, the rest waiting
        source = _source_answers(url)
        engine_busy.set()
        answers = [ask.result() for ask in asks]
        events = streamed.result().text
    assert source.status_code == 200 and source.json()["lines"] == APP.split("\n")[2:4]
    assert all(a.status_code == 200 for a in answers)
    assert {a.json()["answers"][0]["question"] for a in answers} == {f"Why {n}?"
                                                                      for n in range(ASKS)}
    result = json.loads(events.rsplit("event: result\ndata: ", 1)[1])
    assert result["answers"][0]["answer"] == REPLY


@pytest.mark.slow
def test_mcp_asks_waiting_on_the_engine_leave_the_other_requests_answerable(
    tmp_path: Path, engine_busy: threading.Event
) -> None:
    import anyio
    from mcp import Client

    async def scenario(url: str) -> tuple[httpx.Response, str, list[bool]]:
        errors: list[bool] = []
        async with Client(url + "mcp") as client, anyio.create_task_group() as asks:
            async def ask(n: int) -> None:
                errors.append((await client.call_tool("ask", {"question": f"What {n}?"})).is_error)

            for n in range(ASKS):
                asks.start_soon(ask, n)
            await anyio.sleep(1.0)  # every ask is in: one on the engine, the rest waiting
            async with httpx.AsyncClient(timeout=10) as http:
                source = await http.get(url + "api/source", params={"path": "app.py", "start": 3,
                                                                    "end": 4})
            read = await client.call_tool("read", {"path": "app.py", "start_line": 3,
                                                   "end_line": 4})
            engine_busy.set()
        return source, "\n".join(getattr(part, "text", "") for part in read.content), errors

    with busy_serving(tmp_path, engine_busy) as url:
        source, read, errors = anyio.run(scenario, url)
    assert source.status_code == 200 and source.json()["lines"] == APP.split("\n")[2:4]
    assert "def save(note):" in read
    assert errors == [False] * ASKS
