"""`longread serve` against another site's page: /api/* and /mcp answer their own origin only,
every response carries the security headers, and the token is strong, out of `ps`, and taken only
where the page needs it (a real server on 127.0.0.1, a scripted backend, the CLI)."""

from __future__ import annotations

import hashlib
import re
from base64 import b64encode
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from longread.analysis.cli.commands import cli
from longread.analysis.web.server import WebServer
from tests.fakes import register_scripted
from tests.webserver import TOKEN, make_corpus, scripted_reply, serving

QUESTION = '{"question": "Where are notes saved?"}'


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list:
    return register_scripted(monkeypatch, scripted_reply)


@pytest.mark.slow
def test_another_sites_page_cannot_post_a_question_and_no_model_sees_one(
    tmp_path: Path, corpus: Path, built: list
) -> None:
    """What a form or a `no-cors` fetch on another page can send, and what a browser adds."""
    with serving(tmp_path, corpus) as url:
        here = url.rstrip("/")
        sent = {
            "text/plain": httpx.post(url + "api/ask", content=QUESTION,
                                     headers={"Content-Type": "text/plain"}),
            "form": httpx.post(url + "api/summarize", data={"focus": "x"}),
            "no type": httpx.post(url + "api/summarize", content=b""),
            "foreign origin": httpx.post(url + "api/ask", content=QUESTION, headers={
                "Content-Type": "application/json", "Origin": "http://127.0.0.1:9"}),
            "null origin": httpx.post(url + "api/ask", content=QUESTION, headers={
                "Content-Type": "application/json", "Origin": "null"}),
            "cross-site": httpx.post(url + "api/ask", content=QUESTION, headers={
                "Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}),
            "same-site": httpx.get(url + "api/pack", headers={"Sec-Fetch-Site": "same-site"}),
            "mcp, foreign origin": httpx.post(url + "mcp", json={}, headers={
                "Origin": "http://localhost:9"}),
        }
        statuses = {name: response.status_code for name, response in sent.items()}
        assert built == []  # not one of them reached the engine, nor opened it
        own = httpx.post(url + "api/ask", content=QUESTION, timeout=30, headers={
            "Content-Type": "application/json; charset=utf-8", "Origin": here,
            "Sec-Fetch-Site": "same-origin"})
    assert statuses == {"text/plain": 415, "form": 415, "no type": 415, "foreign origin": 403,
                        "null origin": 403, "cross-site": 403, "same-site": 403,
                        "mcp, foreign origin": 403}
    assert "application/json" in sent["text/plain"].json()["error"]
    assert own.status_code == 200 and own.json()["answers"]
    assert len(built[0].requests) == 1


@pytest.mark.slow
def test_every_response_carries_the_security_headers(
    tmp_path: Path, corpus: Path, built: list
) -> None:
    with serving(tmp_path, corpus) as url:
        responses = [httpx.get(url), httpx.get(url + "api/pack"), httpx.get(url + "nope"),
                     httpx.get(url, headers={"Host": "evil.example"}),
                     httpx.post(url + "api/ask", content="x"), httpx.post(url + "mcp", json={})]
    with serving(tmp_path, corpus, token=TOKEN) as url:
        responses.append(httpx.get(url + "api/pack"))
    assert [r.status_code for r in responses] == [200, 200, 404, 400, 415, 400, 401]
    for response in responses:
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "connect-src 'self'" in policy
        assert "default-src 'self'" in policy and "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_the_policy_allows_the_pages_own_script_and_style_and_nothing_else_inline(
    tmp_path: Path, corpus: Path, built: list
) -> None:
    with serving(tmp_path, corpus) as url:
        page = httpx.get(url)
    inline = re.findall(r"<(script|style)>(.*?)</\1>", page.text, re.S)
    assert [tag for tag, _ in inline] == ["style", "script"]
    assert len(re.findall(r"<script", page.text)) == 1 and " style=" not in page.text
    policy = page.headers["content-security-policy"]
    for tag, text in inline:
        digest = b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in policy


@pytest.mark.slow
def test_the_token_in_the_url_opens_the_page_and_nothing_else(
    tmp_path: Path, corpus: Path, built: list
) -> None:
    with serving(tmp_path, corpus, token=TOKEN) as url:
        page = httpx.get(url, params={"token": TOKEN})
        elsewhere = [httpx.get(url + "api/pack", params={"token": TOKEN}),
                     httpx.get(url + "api/source", params={"path": "app.py", "token": TOKEN}),
                     httpx.post(url + "api/ask", params={"token": TOKEN},
                                json={"question": "Where?"}),
                     httpx.post(url, params={"token": TOKEN}),
                     httpx.post(url + "mcp", params={"token": TOKEN}, json={})]
        lower = httpx.get(url + "api/pack", headers={"Authorization": f"bearer {TOKEN}"})
        upper = httpx.get(url + "api/pack", headers={"Authorization": f"BEARER  {TOKEN}"})
        basic = httpx.get(url + "api/pack", headers={"Authorization": f"Basic {TOKEN}"})
    assert page.status_code == 200 and "history.replaceState" in page.text
    assert [r.status_code for r in elsewhere] == [401] * 5
    assert lower.status_code == upper.status_code == 200 and basic.status_code == 401
    assert [backend.requests for backend in built] == [[]]  # /api/pack counted; nothing asked


def test_with_a_token_mcp_still_refuses_another_origin(
    tmp_path: Path, corpus: Path, built: list
) -> None:
    import anyio
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async def tools(url: str) -> set[str]:
        http = create_mcp_http_client(headers={"Authorization": f"bearer {TOKEN}"})
        async with http, Client(streamable_http_client(url + "mcp", http_client=http)) as client:
            return {tool.name for tool in (await client.list_tools()).tools}

    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "page", "version": "1"}}}
    with serving(tmp_path, corpus, host="0.0.0.0", token=TOKEN) as url:
        foreign = httpx.post(url + "mcp", json=initialize, headers={
            "Authorization": f"Bearer {TOKEN}", "Origin": "http://attacker.example",
            "Accept": "application/json, text/event-stream"})
        names = anyio.run(tools, url)
    assert foreign.status_code == 403
    assert {"pack", "ask", "read", "summarize"} <= names


@pytest.mark.parametrize(("flags", "env"), [
    (["--token", "a"], {}),
    ([], {"LONGREAD_SERVE_TOKEN": " "}),
    ([], {"LONGREAD_SERVE_TOKEN": "a token with spaces in it"}),
    (["--host", "0.0.0.0", "--token", "short"], {}),
])
def test_a_weak_token_is_one_line_and_exit_2(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str],
    env: dict[str, str]
) -> None:
    monkeypatch.setattr(WebServer, "run", lambda self: None)  # never serve, whatever happens
    result = _serve(tmp_path, corpus, flags, env)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "longread: error: the token needs 16 or more characters and no spaces; make one with: "
        "python -c 'import secrets; print(secrets.token_urlsafe())'"]


def test_a_token_file_keeps_the_token_out_of_the_command_line(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens: list[str | None] = []
    monkeypatch.setattr(WebServer, "run", lambda self: tokens.append(
        self.server.config.app.token))
    good, weak = tmp_path / "token", tmp_path / "weak"
    good.write_text(TOKEN + "\n")
    weak.write_text("\n")
    served = _serve(tmp_path, corpus, ["--host", "0.0.0.0", "--token-file", str(good)], {})
    flagged = _serve(tmp_path, corpus, ["--token", TOKEN], {})
    refused = _serve(tmp_path, corpus, ["--token-file", str(weak)], {})
    both = _serve(tmp_path, corpus, ["--token-file", str(good)], {"LONGREAD_SERVE_TOKEN": TOKEN})
    assert served.exit_code == 0, served.output
    assert tokens == [TOKEN, TOKEN] and TOKEN not in served.output + flagged.output
    assert "?token=…" in served.output and "note:" not in served.output
    assert "every user here can read --token in ps" in flagged.output
    assert refused.exit_code == 2 and "16 or more characters" in refused.output
    assert both.exit_code == 2 and "give the token once" in both.output


def _serve(tmp_path: Path, corpus: Path, flags: list[str], env: dict[str, str]) -> Result:
    environ: dict[str, str | None] = {"LONGREAD_SERVE_TOKEN": None, **env}
    return CliRunner(env=environ).invoke(cli, [
        "--cache-dir", str(tmp_path / "cache"), "serve", str(corpus), "--port", "0", *flags])
