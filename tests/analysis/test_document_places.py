"""Places in documents through the whole chain: `longread ask` checks a cited paragraph, heading,
chapter or cell against what the pack showed; /api/source and MCP `read` return the cited place."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import httpx
import pytest
from click.testing import CliRunner

from longread.analysis.cli.commands import cli  # noqa: E402
from tests.documents import docx_bytes, epub_bytes, html_page, notebook_json  # noqa: E402
from tests.fakes import register_scripted  # noqa: E402
from tests.webserver import serving  # noqa: E402

README = "# Tool\nIntro.\n\n## Install\nRun make install.\n\n```sh\n# not a heading\n```\n" \
         "## Usage\nUse it daily.\n"


def _corpus(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "report.docx").write_bytes(docx_bytes([
        ("h1", "Quarterly report"), ("p", "Revenue grew by 12 percent."), ("h2", "Risks"),
        ("p", "Supply chain delays in Asia.")]))
    (root / "page.html").write_text(html_page("Widget", [
        ("Install", "Run pip install widget.", None), ("Usage", "Call run daily.", "use-it")]))
    (root / "book.epub").write_bytes(epub_bytes([("Beginnings", "The ship left port at dawn."),
                                                 ("Storm", "A storm broke the mast.")]))
    (root / "analysis.ipynb").write_text(notebook_json([
        ("markdown", "# Analysis", None), ("code", "print(6 * 7)", "42")]))
    (root / "README.md").write_text(README)
    return root


# (citation as the model writes it, the quote next to it, the status the checker gives)
CASES = [
    ("report.docx#p=4", "Supply chain delays", "ok"),
    ("report.docx#p=2", "Supply chain delays", "quote-not-found"),
    ("report.docx#p=9", "Supply chain delays", "out-of-range"),
    ("page.html#install", "pip install widget", "ok"),
    ("page.html#use-it", "Call run daily", "ok"),
    ("page.html#usage", "Call run daily", "out-of-range"),  # the heading's id names it
    ("book.epub#ch=2", "storm broke the mast", "ok"),
    ("book.epub#ch=3", "storm broke the mast", "out-of-range"),
    ("analysis.ipynb#cell=2", "42", "ok"),
    ("analysis.ipynb#cell=1", "print(6 * 7)", "quote-not-found"),
    ("README.md#install", "Run make install", "ok"),
    ("README.md#not-a-heading", "not a heading", "out-of-range"),
    ("README.md#usage", "Run make install", "quote-not-found"),
]


def _ask(tmp_path: Path, corpus: Path, *flags: str) -> list[dict]:
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "ask", "--backend",
                                      "scripted", str(corpus), "What do they say?", "--json",
                                      *flags])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["answers"][0]["citations"]


@pytest.mark.parametrize(("cited", "quote", "status"), CASES)
def test_ask_checks_a_cited_place_of_each_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cited: str, quote: str, status: str
) -> None:
    register_scripted(monkeypatch, lambda system: f'It says "{quote}" ({cited}).')
    [citation] = _ask(tmp_path, _corpus(tmp_path))
    assert (citation["raw"], citation["status"]) == (cited, status), citation
    assert citation["place"] == cited.split("#")[1] and citation["page"] is None


def test_a_place_the_pack_saw_in_the_prompt_is_what_the_model_cites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def reply(system: str) -> str:
        seen.append(system)
        return "See report.docx#p=2, page.html#install, book.epub#ch=1 and analysis.ipynb#cell=2."

    register_scripted(monkeypatch, reply)
    citations = _ask(tmp_path, _corpus(tmp_path))
    assert [c["status"] for c in citations] == ["ok"] * 4
    for cited in ("report.docx#p=2", "page.html#install", "book.epub#ch=1",
                  "analysis.ipynb#cell=2"):
        assert f'<section id="{cited}">' in seen[0]


def test_a_page_of_what_is_not_a_pdf_is_out_of_range_naming_its_places(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, lambda system: "See report.docx#page=2.")
    [citation] = _ask(tmp_path, _corpus(tmp_path))
    assert citation["status"] == "out-of-range"
    assert "its paragraphs are #p=1-4" in citation["detail"], citation


def _last_and_next_cell(system: str) -> str:
    last = max(int(n) for n in re.findall(r'<section id="long\.ipynb#cell=(\d+)"', system))
    return f"Shown: long.ipynb#cell={last}.\nNot shown: long.ipynb#cell={last + 1}.\n"


def test_cells_a_cut_notebook_did_not_show_are_not_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, _last_and_next_cell)
    root = tmp_path / "nb"
    root.mkdir()
    cells = [("code", f"step_{n} = {n}\n" + "# padding words here\n" * 10, str(n))
             for n in range(1, 30)]
    (root / "long.ipynb").write_text(notebook_json(cells))
    citations = _ask(tmp_path, root, "--budget", "400")
    assert [c["status"] for c in citations] == ["ok", "not-shown"], citations


def test_api_source_returns_the_cited_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, lambda system: "none")
    with serving(tmp_path, _corpus(tmp_path)) as url:
        def source(path: str, place: str) -> dict:
            reply = httpx.get(url + "api/source", params={"path": path, "place": place},
                              timeout=30)
            return {"code": reply.status_code, **reply.json()}

        cell = source("analysis.ipynb", "cell=2")
        heading = source("README.md", "install")
        missing = source("book.epub", "ch=7")
    assert cell["lines"] == ["In [2]:", "print(6 * 7)", "Out:", "42"] and cell["place"] == "cell=2"
    assert (heading["start"], heading["end"]) == (4, 9)  # the file's own lines, up to "## Usage"
    assert heading["lines"][:2] == ["## Install", "Run make install."]
    assert missing["code"] == 400 and "its chapters are #ch=1-2" in missing["error"], missing


async def _mcp_read(url: str, arguments: dict) -> tuple[bool, str]:
    from mcp import Client

    async with Client(url + "mcp") as client:
        result = await client.call_tool("read", arguments)
    return bool(result.is_error), "".join(getattr(part, "text", "") for part in result.content)


def test_mcp_read_returns_the_cited_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, lambda system: "none")
    with serving(tmp_path, _corpus(tmp_path)) as url:
        paragraph = anyio.run(_mcp_read, url, {"path": "report.docx", "place": "p=4"})
        anchor = anyio.run(_mcp_read, url, {"path": "page.html", "place": "use-it"})
        wrong = anyio.run(_mcp_read, url, {"path": "page.html", "place": "p=1"})
    assert paragraph == (False,
                         "report.docx, #p=4: lines 1-1 of 1\n1\tSupply chain delays in Asia.\n")
    assert anchor[1].splitlines()[1:] == ["1\t## Usage", "2\t", "3\tCall run daily."]
    assert wrong[0] and "page.html has no place #p=1" in wrong[1]


@pytest.mark.browser
def test_the_page_links_a_cited_place_and_shows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By

    from tests.browser import ask_and_follow, chromium

    monkeypatch.setenv("SE_OFFLINE", "true")
    register_scripted(monkeypatch,
                      lambda system: "Risks: `report.docx#p=4`; see README.md#install.")
    with serving(tmp_path, _corpus(tmp_path)) as url, chromium() as driver:
        paragraph = ask_and_follow(driver, url, "Risks?", "report.docx#p=4")
        assert [row.get_attribute("textContent") for row in paragraph] == [
            "1Supply chain delays in Asia."]
        assert driver.find_element(By.ID, "source-title").text == "report.docx#p=4"
        heading = ask_and_follow(driver, url, "Install?", "README.md#install")
        assert [row.get_attribute("data-line") for row in heading] == [str(n) for n in range(4, 10)]


def test_places_are_read_from_an_answer_without_taking_lines_urls_or_full_stops() -> None:
    from longread.analysis.jobs.citations import parse_citations

    found = parse_citations("See app.py#L10-L20 and README.md#install. Not "
                            "https://example.org/page.html#install, nor nb.ipynb#cell=١٢; "
                            "report.pdf#page=3 and book.epub#ch=2.")
    assert [(c.raw, c.start, c.end, c.page, c.place) for c in found] == [
        ("app.py#L10-L20", 10, 20, None, None),
        ("README.md#install", None, None, None, "install"),
        ("report.pdf#page=3", None, None, 3, None),
        ("book.epub#ch=2", None, None, None, "ch=2"),
    ]
