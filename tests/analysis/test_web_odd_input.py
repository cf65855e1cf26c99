"""`longread serve` refuses every odd input with a 400 and one line of JSON, never a 500: bodies
that are not UTF-8, not JSON, nested past the parser, or hold a lone surrogate; line numbers in
other scripts or of 5,000 digits. /api/source gives at most 500 lines a request, and says where
the rest starts. A real server on 127.0.0.1, in a thread of this process (test_web.serving)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from longread.analysis.jobs.sources import MAX_LINES
from tests.fakes import register_scripted
from tests.webserver import make_corpus, scripted_reply, serving


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = make_corpus(tmp_path)
    (root / "long.txt").write_text("".join(f"line {n}\n" for n in range(1, 1201)))
    return root


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list:
    return register_scripted(monkeypatch, scripted_reply)


def _one_line_400(response: httpx.Response) -> str:
    assert response.status_code == 400, (response.status_code, response.text[:300])
    error = response.json()["error"]
    assert "\n" not in error and len(error) < 200 and response.json()["exit_code"] == 2
    return error


BODIES = {
    "not UTF-8": (b'{"question": "caf\xe9"}', "not UTF-8"),
    "30,000 nested [": (b"[" * 30_000, "nests too deep"),
    "a number of 5,000 digits": (b'{"question": "x", "n": ' + b"9" * 5000 + b"}",
                                 "cannot be read: Exceeds the limit (4300 digits)"),
    "a lone surrogate": (b'{"question": "\\ud800"}', "lone surrogate"),
    "a lone surrogate in a list": (b'{"questions": ["ok", "\\udfff"]}', "lone surrogate"),
    "a lone surrogate as a key": (b'{"\\ud800": 1, "question": "Where?"}', "lone surrogate"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BODIES))
def test_an_odd_body_is_a_400_not_a_500(
    tmp_path: Path, corpus: Path, built: list, name: str
) -> None:
    body, said = BODIES[name]
    with serving(tmp_path, corpus) as url:
        asked = httpx.post(url + "api/ask", content=body, timeout=30,
                           headers={"Content-Type": "application/json"})
        summarized = httpx.post(url + "api/summarize", content=body, timeout=30,
                                headers={"Content-Type": "application/json"})
    assert said in _one_line_400(asked) and said in _one_line_400(summarized)
    assert built == []  # nothing reached a model


@pytest.mark.slow
@pytest.mark.parametrize("start", ["9" * 5000, "١٢", "12\u0661", "²", "-1", "1e3", " 12"])
def test_a_line_number_is_ascii_digits_and_not_5000_of_them(
    tmp_path: Path, corpus: Path, built: list, start: str
) -> None:
    with serving(tmp_path, corpus) as url:
        response = httpx.get(url + "api/source", params={"path": "long.txt", "start": start})
        paged = httpx.get(url + "api/source", params={"path": "long.txt", "page": start})
    error = _one_line_400(response)
    assert "not a line or page number" in error and "9" * 30 not in error
    assert "not a line or page number" in _one_line_400(paged)


def test_a_number_past_any_document_is_a_400(tmp_path: Path, corpus: Path, built: list) -> None:
    with serving(tmp_path, corpus) as url:
        far = httpx.get(url + "api/source", params={"path": "long.txt", "start": "999999999"})
        end = httpx.get(url + "api/source", params={"path": "long.txt", "start": 1200,
                                                     "end": "999999999"})
    assert "has 1200 lines" in _one_line_400(far)
    assert end.status_code == 200 and end.json()["lines"] == ["line 1200"]


@pytest.mark.slow
def test_source_gives_at_most_500_lines_and_where_the_rest_starts(
    tmp_path: Path, corpus: Path, built: list
) -> None:
    with serving(tmp_path, corpus) as url:
        first = httpx.get(url + "api/source", params={"path": "long.txt"}).json()
        asked_all = httpx.get(url + "api/source", params={"path": "long.txt", "start": 1,
                                                           "end": 1200}).json()
        rest = [httpx.get(url + "api/source", params={"path": "long.txt",
                                                      "start": first["next"]}).json()]
        while rest[-1]["next"] is not None:
            rest.append(httpx.get(url + "api/source", params={"path": "long.txt",
                                                              "start": rest[-1]["next"]}).json())
        short = httpx.get(url + "api/source", params={"path": "app.py"}).json()
    assert MAX_LINES == 500
    assert (first["start"], first["end"], first["total"], first["next"]) == (1, 500, 1200, 501)
    assert len(first["lines"]) == 500 and asked_all["lines"] == first["lines"]
    assert [(part["start"], part["end"]) for part in rest] == [(501, 1000), (1001, 1200)]
    every = first["lines"] + [line for part in rest for line in part["lines"]]
    assert every == [f"line {n}" for n in range(1, 1201)]
    assert short["next"] is None and short["end"] == short["total"] == 5


def test_errors_over_http_name_no_cli_flag_while_the_cli_names_its_own(
    tmp_path: Path, corpus: Path, built: list
) -> None:
    with serving(tmp_path, corpus) as url:
        blank = httpx.post(url + "api/ask", json={"questions": ["  "]}, timeout=30)
    assert _one_line_400(blank) == "no question given"
    from click.testing import CliRunner

    from longread.analysis.cli.commands import cli

    run = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cli-cache"), "ask", "--backend",
                                   "scripted", str(corpus), "  "])
    assert run.exit_code == 2
    assert run.stderr == "longread: error: no question given: add one after the paths, or use " \
                         "-q/--questions\n"


@pytest.mark.slow
def test_an_answer_citing_unicode_or_5000_digits_is_answered_not_a_500(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model can be led to write anything (a hostile corpus): \\d matches "١٢", and int()
    refuses 5,000 digits; neither is a line number (ingest.lines.line_number)."""
    reply = "See `app.py:3`.\n\nNot `app.py:١٢`.\n\nNor app.py:" + "9" * 5000 + "."
    register_scripted(monkeypatch, lambda _system: reply)
    with serving(tmp_path, corpus) as url:
        response = httpx.post(url + "api/ask", json={"question": "Where?"}, timeout=30)
    assert response.status_code == 200, response.text[:300]
    cited = response.json()["answers"][0]["citations"]
    assert [(c["raw"], c["status"]) for c in cited] == [("app.py:3", "ok")]
