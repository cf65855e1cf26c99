"""`longread serve` takes on bounded work: questions per request, jobs queued for the engine, MCP
sessions, and clients that never finish their headers (a real server on 127.0.0.1 in a thread of
this process, a scripted backend held busy by the test where the engine must be busy)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from longread.analysis.web.limits import Limits
from tests.fakes import register_scripted
from tests.webserver import REPLY, make_corpus, scripted_reply, serving

STREAM = {"Accept": "text/event-stream"}


def asked(built: list) -> list[str]:
    """The questions the backend was sent, in order (each request's last message holds one)."""
    sent = [request.messages[-1].content for backend in built for request in backend.requests]
    return [message.removeprefix("Question: ") for message in sent]


def test_thirty_questions_in_one_request_are_refused_before_any_reaches_a_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = register_scripted(monkeypatch, scripted_reply)
    with serving(tmp_path, make_corpus(tmp_path)) as url:
        thirty = httpx.post(url + "api/ask", json={"questions": [f"Q{n}?" for n in range(30)]})
    assert thirty.status_code == 400
    assert thirty.json()["error"] == ('at most 16 questions in one request ("questions" has 30): '
                                      "send the rest in another request")
    assert built == []


@contextmanager
def busy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
         limits: Limits) -> Iterator[tuple[str, list, threading.Event]]:
    """A server whose scripted engine answers only once the event is set (at the latest on the
    way out); yields its URL, the backends built, and the event."""
    release = threading.Event()
    built = register_scripted(monkeypatch, lambda _system: release.wait(60) and REPLY)
    with serving(tmp_path, make_corpus(tmp_path), limits=limits) as url:
        try:
            yield url, built, release
        finally:
            release.set()


@pytest.mark.slow
def test_a_full_queue_is_429_with_retry_after_and_frees_up_when_jobs_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with busy(tmp_path, monkeypatch, Limits(queue=2)) as (url, built, release), \
            httpx.Client(timeout=30) as client, ExitStack() as streams:
        # one on the engine, one waiting its turn
        admitted = [_admitted(streams, client, url, q, tries=1) for q in ("First?", "Second?")]
        full = httpx.post(url + "api/ask", json={"question": "Third?"}, timeout=10)
        summary = httpx.post(url + "api/summarize", json={}, timeout=10)
        release.set()
        assert all("event: result" in response.read().decode() for response in admitted)
        later = httpx.post(url + "api/ask", json={"question": "Fourth?"}, timeout=60)
    assert full.status_code == summary.status_code == 429
    assert full.headers["retry-after"] == "10" and "busy" in full.json()["error"]
    assert later.status_code == 200 and later.json()["answers"][0]["answer"] == REPLY
    assert "Third?" not in asked(built)


@pytest.mark.slow
def test_a_queued_job_whose_client_left_never_reaches_the_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with busy(tmp_path, monkeypatch, Limits(queue=3)) as (url, built, release), \
            httpx.Client(timeout=30) as client, ExitStack() as streams:
        running = _admitted(streams, client, url, "Running?", tries=1)
        _until(lambda: asked(built) == ["Running?"])  # on the engine, held there
        with client.stream("POST", url + "api/ask", json={"question": "Streamed away?"},
                           headers=STREAM) as left:
            assert left.status_code == 200  # queued; its client leaves now
        with pytest.raises(httpx.ReadTimeout):  # a plain ask whose client gives up waiting
            httpx.post(url + "api/ask", json={"question": "Plain away?"}, timeout=0.5)
        # both places are free again (retried while the server hears the clients leave)
        kept = [_admitted(streams, client, url, q, tries=100) for q in ("Kept?", "Kept too?")]
        release.set()
        events = [response.read().decode() for response in (running, *kept)]
    assert all("event: result" in text for text in events)
    assert asked(built) == ["Running?", "Kept?", "Kept too?"]


@pytest.mark.slow
def test_mcp_asks_take_their_places_in_the_same_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anyio
    from mcp import Client

    async def scenario(url: str, release: threading.Event) -> tuple[list, httpx.Response]:
        results: list = []
        async with Client(url + "mcp") as client, anyio.create_task_group() as asks:
            async def ask(n: int) -> None:
                results.append(await client.call_tool("ask", {"question": f"Tool {n}?"}))

            for n in range(4):
                asks.start_soon(ask, n)
            with anyio.fail_after(10):  # two are in the queue, two were refused
                while len(results) < 2:
                    await anyio.sleep(0.02)
            async with httpx.AsyncClient(timeout=10) as http:
                full = await http.post(url + "api/ask", json={"question": "Page?"})
            release.set()
        return results, full

    with busy(tmp_path, monkeypatch, Limits(queue=2)) as (url, built, release):
        results, full = anyio.run(scenario, url, release)
    refused = [part.text for r in results if r.is_error for part in r.content]
    assert len(refused) == 2 and all("the server is busy" in text for text in refused)
    assert [r.is_error for r in results[2:]] == [False, False]
    assert full.status_code == 429 and len(asked(built)) == 2


def _admitted(streams: ExitStack, client: httpx.Client, url: str, question: str, *,
              tries: int) -> httpx.Response:
    """An ask as server-sent events, posted until it is admitted (its 200 comes at once; the
    result once the engine is free), kept open in `streams`."""
    for _ in range(tries):
        response = client.send(client.build_request(
            "POST", url + "api/ask", json={"question": question}, headers=STREAM), stream=True)
        if response.status_code == 200:
            streams.callback(response.close)
            return response
        response.close()
        time.sleep(0.05)
    raise AssertionError(f"{question!r} was never admitted")


def _until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "t", "version": "1"}}}


@pytest.mark.slow
def test_a_hundred_mcp_initialize_calls_open_no_more_sessions_than_the_cap_and_idle_ones_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anyio
    from mcp import Client

    async def tools(url: str) -> set[str]:
        async with Client(url + "mcp") as client:
            return {tool.name for tool in (await client.list_tools()).tools}

    register_scripted(monkeypatch, scripted_reply)
    limits = Limits(mcp_sessions=4, mcp_idle_s=1.0)
    with serving(tmp_path, make_corpus(tmp_path), limits=limits) as url, \
            httpx.Client(timeout=10) as client:
        opened = [client.post(url + "mcp", json=INITIALIZE, headers={
            "Accept": "application/json, text/event-stream"}) for _ in range(100)]
        sessions = {r.headers["mcp-session-id"] for r in opened if r.status_code == 200}
        time.sleep(2.5)  # every session is idle past mcp_idle_s
        expired = [client.post(url + "mcp", json={"jsonrpc": "2.0", "method": "ping", "id": 2},
                               headers={"Accept": "application/json, text/event-stream",
                                        "Mcp-Session-Id": session}) for session in sessions]
        names = anyio.run(tools, url)
    assert len(sessions) == 4
    assert sorted(r.status_code for r in opened) == [200] * 4 + [503] * 96
    assert [r.status_code for r in expired] == [404] * 4
    assert {"pack", "ask", "read", "summarize"} <= names


@pytest.mark.slow
def test_clients_that_never_finish_their_headers_are_closed_after_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, scripted_reply)
    with serving(tmp_path, make_corpus(tmp_path), limits=Limits(header_s=1.0)) as url, \
            ExitStack() as stack:
        clients = [stack.enter_context(socket.create_connection(("127.0.0.1", _port(url))))
                   for _ in range(60)]
        for n, client in enumerate(clients):  # a third silent, a third mid-headers, a third slow
            client.sendall([b"", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"G"][n % 3])
        started = time.monotonic()
        drip = threading.Thread(target=_drip, args=(clients[2::3],), daemon=True)
        drip.start()
        answered = httpx.get(url + "api/pack", timeout=10)
        closed = [_closed(client, by=started + 5) for client in clients]
        waited = time.monotonic() - started
    assert answered.status_code == 200
    assert closed == [True] * 60 and waited < 5


@pytest.mark.slow
def test_a_body_that_stops_coming_is_408_after_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = register_scripted(monkeypatch, scripted_reply)
    with serving(tmp_path, make_corpus(tmp_path), limits=Limits(body_s=1.0)) as url, \
            socket.create_connection(("127.0.0.1", _port(url))) as client:
        client.sendall(b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                       b'{"question": ')
        started = time.monotonic()
        client.settimeout(10)
        reply = client.recv(4096)
        waited = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408") and b"took over 1 s" in reply
    assert 0.9 < waited < 5 and built == []


def _port(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1])


def _drip(clients: list[socket.socket]) -> None:
    """A byte of headers to each client every 0.1 s for up to 4 s (a slow loris), until the
    server closes it."""
    for byte in b"ET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1234567"[:40]:
        for client in clients:
            with suppress(OSError):
                client.sendall(bytes([byte]))
        time.sleep(0.1)


def _closed(client: socket.socket, *, by: float) -> bool:
    """True once the server closes the connection (reads give b"" or a reset) by time `by`."""
    client.settimeout(max(by - time.monotonic(), 0.01))
    try:
        return client.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
