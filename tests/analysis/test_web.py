"""`longread serve` on 127.0.0.1: the JSON API, the guard (token, Host, body cap), corpus-only
sources and MCP over HTTP, with a scripted backend (registered here, so the server runs in a thread
of this process; one test starts the real CLI in a subprocess)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from longread.analysis.cli.commands import cli
from longread.analysis.web.server import WebServer
from tests.children import child_env, scripted_longread
from tests.fakes import register_scripted
from tests.trees import write_files
from tests.webserver import APP, REPLY, SECRET, TOKEN, make_corpus, scripted_reply, serving


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list:
    return register_scripted(monkeypatch, scripted_reply)


def test_ask_is_the_json_of_ask_json_and_one_backend_serves_every_request(
    tmp_path: Path, corpus: Path, built: list
) -> None:
    cli_run = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cli-cache"), "ask",
                                       "--backend", "scripted", str(corpus), "Where?", "--json"])
    assert cli_run.exit_code == 0, cli_run.output
    expected = json.loads(cli_run.stdout)
    with serving(tmp_path, corpus) as url:
        served = httpx.post(url + "api/ask", json={"question": "Where?"}, timeout=30).json()
        both = httpx.post(url + "api/ask", json={"questions": ["Where?", "Why?"]}, timeout=30)
    for data in (expected, served):
        for answer in data["answers"]:
            answer.pop("seconds")
    assert served == expected
    assert [c["status"] for c in served["answers"][0]["citations"]] == ["ok", "unknown-path"]
    assert [a["question"] for a in both.json()["answers"]] == ["Where?", "Why?"]
    assert len(built) == 2  # one for the CLI run, ONE for every request of the server


def test_source_gives_the_cited_lines_and_pack_the_manifest(
    tmp_path: Path, corpus: Path, built: list
) -> None:
    with serving(tmp_path, corpus) as url:
        source = httpx.get(url + "api/source", params={"path": "app.py", "start": 3, "end": 4})
        whole = httpx.get(url + "api/source", params={"path": "app.py"})
        manifest = httpx.get(url + "api/pack").json()
    assert source.status_code == 200, source.text
    assert source.json()["lines"] == APP.split("\n")[2:4]
    assert (source.json()["start"], source.json()["end"]) == (3, 4)
    assert whole.json()["total"] == 5 and len(whole.json()["lines"]) == 5
    fidelity = {d["path"]: d["fidelity"] for d in manifest["documents"]}
    assert fidelity["app.py"] == "full" and fidelity["logo.png"] == "skipped"
    assert fidelity[".env"] == fidelity["leak.txt"] == "skipped"  # a symlink out, named
    assert manifest["digest"] and manifest["tokens"] > 0


@pytest.mark.slow
def test_a_pdf_citation_opens_its_page(tmp_path: Path, built: list) -> None:
    from tests.pdfs import pdf_bytes

    docs = tmp_path / "docs"
    write_files(docs, {"report.pdf": pdf_bytes(["Page one intro.", "Budget: 42 units."])})
    with serving(tmp_path, docs) as url:
        page = httpx.get(url + "api/source", params={"path": "report.pdf", "page": 2})
        no_page = httpx.get(url + "api/source", params={"path": "report.pdf", "page": 3})
    assert page.status_code == 200, page.text
    assert (page.json()["page"], page.json()["pages"]) == (2, 2)
    assert "Budget: 42 units." in "\n".join(page.json()["lines"])
    assert no_page.status_code == 400


def test_progress_and_the_result_stream_as_server_sent_events(
    tmp_path: Path, corpus: Path, built: list
) -> None:
    with serving(tmp_path, corpus) as url:
        response = httpx.post(url + "api/ask", json={"question": "Where?"}, timeout=30,
                              headers={"Accept": "text/event-stream"})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = re.findall(r"^event: (\w+)\ndata: (.*)$", response.text, re.M)
    names = [name for name, _ in events]
    assert "progress" in names and names[-1] == "result" and names.count("result") == 1
    result = json.loads(events[-1][1])
    assert result["answers"][0]["answer"] == REPLY


def test_a_long_job_streams_keep_alive_comments_between_its_events(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sse-starlette pings a quiet stream (every 15 s; 0.1 s here) so proxies keep it open; the
    pings are SSE comments, outside every event."""
    from longread.analysis.web import routes

    def slow_reply(_system: str) -> str:
        time.sleep(0.6)
        return REPLY

    register_scripted(monkeypatch, slow_reply)
    monkeypatch.setattr(routes._EventStream, "DEFAULT_PING_INTERVAL", 0.1)
    with serving(tmp_path, corpus) as url:
        response = httpx.post(url + "api/ask", json={"question": "Where?"}, timeout=30,
                              headers={"Accept": "text/event-stream"})
    frames = [frame for frame in response.text.split("\n\n") if frame]
    assert any(frame.startswith(": ping") for frame in frames)
    events = [f for f in frames if not f.startswith(":")]
    assert all(re.fullmatch(r"event: \w+\ndata: .*", f) for f in events)
    assert json.loads(events[-1].split("data: ", 1)[1])["answers"][0]["answer"] == REPLY


@pytest.mark.parametrize("path", [
    "../../etc/passwd", "/etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "..%2f..%2fetc%2fpasswd",
    "leak.txt", "../outside/secret.txt", ".env", "docs/../../outside/secret.txt",
])
@pytest.mark.slow
def test_nothing_outside_the_corpus_is_served(
    tmp_path: Path, corpus: Path, built: list, path: str
) -> None:
    with serving(tmp_path, corpus) as url:
        response = httpx.get(f"{url}api/source?path={path}")
    assert response.status_code == 404, response.text
    assert SECRET not in response.text and "root:" not in response.text
    assert "sk-live" not in response.text


@pytest.mark.parametrize("raw", ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                                 "/api/%2e%2e/%2e%2e/etc/passwd", "/app.py", "/leak.txt"])
@pytest.mark.slow
def test_no_url_path_reaches_a_file(tmp_path: Path, corpus: Path, built: list, raw: str) -> None:
    with serving(tmp_path, corpus) as url, httpx.Client() as client:
        request = client.build_request("GET", url.rstrip("/"))
        request.url = request.url.copy_with(raw_path=raw.encode())
        response = client.send(request)
    assert response.status_code == 404
    assert SECRET not in response.text and "root:" not in response.text
    assert "sqlite3" not in response.text


def test_a_bad_request_is_one_line_and_a_4xx(tmp_path: Path, corpus: Path, built: list) -> None:
    with serving(tmp_path, corpus) as url:
        not_json = httpx.post(url + "api/ask", content=b"{nope", timeout=30,
                              headers={"Content-Type": "application/json"})
        no_question = httpx.post(url + "api/ask", json={"questions": "Where?"}, timeout=30)
        bad_line = httpx.get(url + "api/source", params={"path": "app.py", "start": "x"})
        past_end = httpx.get(url + "api/source", params={"path": "app.py", "start": 40})
        superscript = httpx.get(url + "api/source", params={"path": "app.py", "start": "²"})
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    assert no_question.status_code == 400 and "questions" in no_question.json()["error"]
    assert bad_line.status_code == 400 and past_end.status_code == 400
    assert superscript.status_code == 400 and "line or page number" in superscript.json()["error"]
    assert built == []  # nothing reached a model


def test_request_bodies_are_capped(tmp_path: Path, corpus: Path, built: list) -> None:
    big = json.dumps({"question": "x" * 70_000}).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 8192):
            yield big[start:start + 8192]

    with serving(tmp_path, corpus) as url:
        as_json = {"Content-Type": "application/json"}
        sized = httpx.post(url + "api/ask", content=big, timeout=30, headers=as_json)
        chunked = httpx.post(url + "api/ask", content=chunks(), timeout=30, headers=as_json)
        to_mcp = httpx.post(url + "mcp", content=big, timeout=30, headers=as_json)
    assert sized.status_code == 413 and chunked.status_code == 413 and to_mcp.status_code == 413
    assert built == []


def test_serve_on_a_missing_path_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WebServer, "run", lambda self: None)  # never serve, whatever happens
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "serve",
                                      str(tmp_path / "nowhere"), "--port", "0"])
    assert result.exit_code == 2 and "does not exist" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_off_loopback_the_server_does_not_start_without_a_token(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "LONGREAD_SERVE_TOKEN"}
    result = CliRunner(env=env).invoke(
        cli, ["--cache-dir", str(tmp_path / "cache"), "serve", str(corpus), "--host", "0.0.0.0",
              "--port", "0"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "longread: error: serving on 0.0.0.0 needs a token: give LONGREAD_SERVE_TOKEN or "
        "--token-file (or bind to 127.0.0.1)"]


def test_with_a_token_every_request_needs_it(tmp_path: Path, corpus: Path, built: list) -> None:
    with serving(tmp_path, corpus, host="0.0.0.0", token=TOKEN) as url:
        bare = [httpx.get(url), httpx.get(url + "api/pack"),
                httpx.get(url + "api/source", params={"path": "app.py"}),
                httpx.post(url + "api/ask", json={"question": "Where?"}),
                httpx.post(url + "mcp", json={})]
        wrong = httpx.get(url + "api/pack", headers={"Authorization": "Bearer nope"})
        bearer = httpx.get(url + "api/pack", headers={"Authorization": f"Bearer {TOKEN}"})
        page = httpx.get(url, params={"token": TOKEN})
    assert [r.status_code for r in bare] == [401] * 5 and wrong.status_code == 401
    assert bare[0].headers["www-authenticate"] == "Bearer"
    assert bearer.status_code == 200 and bearer.json()["documents"]
    assert page.status_code == 200 and "Token map" in page.text and "function squarify" in page.text
    assert [backend.requests for backend in built] == [[]]  # /api/pack counted; nothing asked


def test_without_a_token_only_loopback_host_names_are_answered(
    tmp_path: Path, corpus: Path, built: list
) -> None:
    """A page elsewhere that rebinds its DNS name to 127.0.0.1 sends its own Host: refused (400,
    Starlette's TrustedHostMiddleware), a look-alike and an empty Host too; loopback names pass."""
    hostile = ["attacker.example:8080", "127.0.0.1.evil.example", "0.0.0.0", "", "[::2]:8080"]
    loopback = ["localhost:8080", "LOCALHOST", "127.0.0.1", "[::1]:8080"]
    with serving(tmp_path, corpus) as url:
        refused = [httpx.get(url + "api/source", params={"path": "app.py"}, headers={"Host": h})
                   for h in hostile]
        answered = [httpx.get(url + "api/source", params={"path": "app.py"}, headers={"Host": h})
                    for h in loopback]
    assert [r.status_code for r in refused] == [400] * len(hostile)
    assert all("save" not in r.text for r in refused)
    assert [r.status_code for r in answered] == [200] * len(loopback)


def test_mcp_over_http_reads_a_cited_source_and_packs(
    tmp_path: Path, corpus: Path, built: list
) -> None:
    import anyio
    from mcp import Client

    async def call(url: str) -> tuple[str, str, str]:
        async with Client(url + "mcp") as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            read = await client.call_tool("read", {"path": "app.py", "start_line": 3,
                                                   "end_line": 4})
            refused = await client.call_tool("read", {"path": "../outside/secret.txt"})
            packed = await client.call_tool("pack", {})
        assert {"pack", "ask", "read", "summarize"} <= tools
        assert refused.is_error
        return _text(read), _text(refused), _text(packed)

    with serving(tmp_path, corpus) as url:
        read, refused, packed = anyio.run(call, url)
    assert "def save(note):" in read and "sqlite3.connect" in read and "import" not in read
    assert SECRET not in refused
    assert "app.py" in packed and "def save(note):" in packed


def _text(result: object) -> str:
    return "\n".join(getattr(part, "text", "") for part in getattr(result, "content", []))


@pytest.mark.slow
def test_longread_serve_answers_until_ctrl_c(tmp_path: Path, corpus: Path) -> None:
    """The real command in a subprocess (the scripted backend registered before the CLI runs)."""
    process = subprocess.Popen(
        [*scripted_longread(REPLY), "--cache-dir", str(tmp_path / "cache"), "serve", str(corpus),
         "--port", "0", "--backend", "scripted"],
        stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        assert process.stderr is not None
        lines = iter(process.stderr.readline, "")
        match = next(filter(None, (re.search(r"at (http://127\.0\.0\.1:\d+/) \(Ctrl-C to stop\)",
                                             line) for line in lines)), None)
        assert match, "longread serve printed no address"
        answer = _retry_post(match.group(1) + "api/ask", {"question": "Where?"})
        assert answer["answers"][0]["answer"] == REPLY
    finally:
        process.send_signal(2)
        code = process.wait(20)
    assert code in (0, 130)


def _retry_post(url: str, body: dict) -> dict:
    """The line is printed just before uvicorn starts accepting: retry a refused connection."""
    for _ in range(100):
        try:
            return httpx.post(url, json=body, timeout=30).json()
        except httpx.ConnectError:
            time.sleep(0.05)
    raise AssertionError(f"nothing answered at {url}")
