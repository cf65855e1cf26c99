"""The page of `longread serve` in a real headless Chromium (Debian's chromium + chromium-driver,
driven by selenium through /usr/bin/chromedriver, never a downloaded driver): ask, click the
citation, see the cited lines highlighted; the token map has one rectangle per packed document.

In CI (CI=true) a missing browser FAILS the test; elsewhere it skips and says what to install.
`python -m tests.analysis.test_web_browser docs/` (from the repo root) retakes the README's
screenshots.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import ask_and_follow, chromium, map_rectangles, wait
from tests.fakes import register_scripted
from tests.webserver import APP, REPLY, make_corpus, scripted_reply, serving

pytestmark = pytest.mark.browser

@pytest.fixture(autouse=True)
def offline_selenium(monkeypatch: pytest.MonkeyPatch) -> None:
    """Selenium Manager may not reach the network for a browser or a driver."""
    monkeypatch.setenv("SE_OFFLINE", "true")


@pytest.fixture
def driver() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


def test_a_citation_opens_its_lines_and_the_map_shows_the_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, driver: Any
) -> None:
    from selenium.webdriver.common.by import By

    register_scripted(monkeypatch, scripted_reply)
    corpus = make_corpus(tmp_path)
    with serving(tmp_path, corpus) as url:
        highlighted = ask_and_follow(driver, url, "Where are notes saved?", "app.py:3-4")
        assert [row.get_attribute("data-line") for row in highlighted] == ["3", "4"]
        assert [row.get_attribute("textContent") for row in highlighted] == [
            f"{n}{line}" for n, line in enumerate(APP.split("\n")[2:4], 3)]  # number, line
        assert driver.find_element(By.ID, "source-title").text == "app.py:3-4"
        text = driver.find_element(By.CSS_SELECTOR, ".answer .text").text
        assert text == REPLY.replace("`", "")  # citations are links, `save` is code
        assert driver.find_element(By.CSS_SELECTOR, ".answer .text code").text == "save"
        flagged = driver.find_element(By.CSS_SELECTOR, ".answer .cite-bad")
        assert flagged.text == "gone.py:1" and "unknown-path" in flagged.get_attribute("title")
        manifest = httpx.get(url + "api/pack").json()
        packed = [d["path"] for d in manifest["documents"] if d["fidelity"] != "skipped"]
        rectangles = map_rectangles(driver, len(packed))
        assert sorted(r.get_attribute("data-path") for r in rectangles) == sorted(packed)
        assert all(r.size["width"] > 0 and r.size["height"] > 0 for r in rectangles)
        skipped = driver.find_element(By.ID, "skipped-title").get_attribute("textContent")
        assert skipped == "Skipped (3)"  # the binary, the .env file, the symlink out
        driver.find_element(By.ID, "summarize").click()
        rows = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "table.coverage tr"))
        covered = {row.find_elements(By.TAG_NAME, "td")[0].text: row.text for row in rows[1:]}
        assert sorted(covered) == sorted(d["path"] for d in manifest["documents"])
        assert "cited" in covered["app.py"] and "skipped" in covered["logo.png"]
        assert not _policy_reports(driver)  # the page's inlined script and style are allowed


def _policy_reports(driver: Any) -> list[str]:
    """What the browser console said about the Content-Security-Policy."""
    return [entry["message"] for entry in driver.get_log("browser")
            if "Content Security Policy" in entry["message"]]


def test_the_page_takes_the_token_out_of_the_address_bar_and_keeps_using_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, driver: Any
) -> None:
    from tests.webserver import TOKEN

    register_scripted(monkeypatch, scripted_reply)
    with serving(tmp_path, make_corpus(tmp_path), host="0.0.0.0", token=TOKEN) as url:
        highlighted = ask_and_follow(driver, f"{url}?token={TOKEN}", "Where?", "app.py:3-4")
        address = driver.current_url
        back = driver.execute_script("return history.length")
    assert [row.get_attribute("data-line") for row in highlighted] == ["3", "4"]
    assert address == url and TOKEN not in address and back == 2
    assert not _policy_reports(driver)


ATTACK = """<!doctype html><title>cat pictures</title>
<iframe name="sink"></iframe>
<form id="f" method="post" action="{url}api/ask" enctype="text/plain" target="sink">
<input name='{{"question": "Form?", "x": "' value='"}}'></form>
<script>
const body = JSON.stringify({{question: "Fetched?"}});
Promise.allSettled([
  fetch("{url}api/ask", {{method: "POST", mode: "no-cors", body}}),
  fetch("{url}api/ask", {{method: "POST", mode: "no-cors", body,
                         headers: {{"Content-Type": "text/plain"}}}}),
  fetch("{url}api/summarize", {{method: "POST", mode: "no-cors"}}),
]).then(() => {{ document.getElementById("f").submit(); document.title = "sent"; }});
</script>"""


def test_a_page_on_another_port_cannot_make_the_server_ask_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, driver: Any
) -> None:
    import functools
    import threading
    import time
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    built = register_scripted(monkeypatch, scripted_reply)
    site = tmp_path / "attacker"
    site.mkdir()
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            """No access log on the test's stderr."""

    handler = functools.partial(Quiet, directory=str(site))
    with serving(tmp_path, make_corpus(tmp_path)) as url, \
            ThreadingHTTPServer(("127.0.0.1", 0), handler) as attacker:
        (site / "index.html").write_text(ATTACK.format(url=url))
        threading.Thread(target=attacker.serve_forever, daemon=True).start()
        driver.get(f"http://127.0.0.1:{attacker.server_address[1]}/index.html")
        wait(driver, lambda d: d.title == "sent")
        time.sleep(1.0)  # the form's post is on its way into the iframe
        attacker.shutdown()
    assert built == []  # no request opened the engine, let alone asked it


def test_the_page_shows_the_cleaned_answer_and_says_what_was_removed_and_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, driver: Any
) -> None:
    from selenium.webdriver.common.by import By

    loop = "Notes are saved by save in the app module of this repository."
    register_scripted(monkeypatch, lambda system: (
        "Notes are saved in `app.py:3-4`.<|im_end|>\n<|im_start|>user\n"
        "<<<END CORPUS 0a1b2c3d4e5f>>>\n" + " ".join([loop] * 12)))
    with serving(tmp_path, make_corpus(tmp_path)) as url:
        ask_and_follow(driver, url, "Where are notes saved?", "app.py:3-4")
        text = driver.find_element(By.CSS_SELECTOR, ".answer .text").text
        notes = driver.find_element(By.CSS_SELECTOR, ".answer .notes")
        assert text == f"Notes are saved in app.py:3-4.\n{loop}"
        assert "cut" in notes.get_attribute("class").split()
        assert notes.text.split("\n") == [
            "longread: removed 1 prompt line the model echoed",
            "longread: removed 2 chat-template tokens",
            "longread: cut: the answer repeated itself from here (the same sentence again)"]


def screenshots(out: Path) -> None:
    """The README's pictures: an answer (from a scripted backend) over examples/notes-app with
    its citation open, and the token map of longread's own ingest/ and engine/ under a budget."""
    import tempfile

    from longread.engine.backend import BACKENDS
    from tests.fakes import ScriptedBackend

    reply = ("Notes live in one SQLite file: `NoteStore` opens it and creates the tables "
             "(`notes/store.py:11-22`); search ranks them in `notes/search.py:1`.")
    BACKENDS["scripted"] = lambda **_: ScriptedBackend(lambda _system: reply)
    repo = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as tmp, chromium(1280, 860) as driver:
        with serving(Path(tmp), repo / "examples" / "notes-app") as url:
            ask_and_follow(driver, url, "Where are the notes stored?", "notes/store.py:11-22")
            driver.save_screenshot(str(out / "serve-answer.png"))
        with serving(Path(tmp), repo / "ingest", budget=15_000) as url:
            driver.get(url)
            wait(driver, lambda d: d.find_elements("css selector", "#treemap .tm-rect"))
            driver.find_element("id", "map-panel").screenshot(str(out / "serve-token-map.png"))


if __name__ == "__main__":
    screenshots(Path(sys.argv[1]))
