"""`longread ask` through the CLI with the fake backend (the real engine: test_vllm_ask.py)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from longread.analysis.cli.commands import cli
from longread.analysis.config import Settings
from longread.analysis.jobs.ask import run_ask
from longread.analysis.jobs.citations import CorpusIndex, check_citations
from longread.engine.backend import BACKENDS
from longread.ingest.corpus import read_corpus
from longread.ingest.corpus_spec import CorpusSpec
from tests.children import child_env, on_a_terminal, scripted_longread
from tests.fakes import FakeBackend, RecordingBackend, register_fake, register_scripted


@pytest.fixture
def fake_backend_registered(monkeypatch: pytest.MonkeyPatch) -> list[FakeBackend]:
    return register_fake(monkeypatch)


def _repo(root: Path) -> Path:
    repo = root / "notes"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "store.py").write_text(
        "import sqlite3\n\nclass NoteStore:\n    def add(self, text):\n        return text\n"
    )
    (repo / "README.md").write_text("# Notes\nA tiny notes app with a zebra mascot.\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    return repo


def _ask(tmp_path: Path, *args: str, backend: str = "fake") -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["--cache-dir", str(tmp_path / "cache"), "ask", "--backend", backend, *args]
    )
    return result.exit_code, result.stdout if result.exit_code == 0 else result.output


def test_ask_json_has_answers_usage_and_checked_citations(
    tmp_path: Path, fake_backend_registered: list[FakeBackend]
) -> None:
    repo = _repo(tmp_path)
    code, output = _ask(tmp_path, str(repo), "Where is the zebra?", "--json")
    assert code == 0, output
    data = json.loads(output)
    [answer] = data["answers"]
    assert answer["question"] == "Where is the zebra?" and "zebra" in answer["answer"]
    assert answer["prompt_tokens"] > 0 and answer["from_cache"] is False
    statuses = {c["path"]: c["status"] for c in answer["citations"]}
    assert statuses == {"README.md": "ok", "nowhere/missing.py": "unknown-path"}
    assert data["pack"]["digest"] and data["model"] == "fake-model"


def test_second_ask_is_a_cache_hit_and_questions_come_from_flags_and_file(
    tmp_path: Path, fake_backend_registered: list[FakeBackend]
) -> None:
    repo = _repo(tmp_path)
    questions = tmp_path / "questions.txt"
    questions.write_text("What is the mascot?\n\nWhat does add return?\n")
    args = (str(repo), "-q", "Where is the zebra?", "--questions", str(questions), "--json")
    code, first = _ask(tmp_path, *args)
    assert code == 0, first
    assert [a["question"] for a in json.loads(first)["answers"]] == [
        "Where is the zebra?",
        "What is the mascot?",
        "What does add return?",
    ]
    assert len(fake_backend_registered[0].requests) == 3
    code, second = _ask(tmp_path, *args)
    assert all(a["from_cache"] for a in json.loads(second)["answers"])
    assert fake_backend_registered[1].requests == []


def test_unresolved_citations_are_flagged_on_stderr_when_piped(
    tmp_path: Path, fake_backend_registered: list[FakeBackend]
) -> None:
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "ask", "--backend",
                                      "fake", str(_repo(tmp_path)), "Where is the zebra?"])
    assert result.exit_code == 0, result.output
    assert "! nowhere/missing.py:3: unknown-path" in result.stderr
    assert "README.md:1:" not in result.stderr and "unknown-path" not in result.stdout


def test_missing_question_or_path_is_a_usage_error(
    tmp_path: Path, fake_backend_registered: list[FakeBackend]
) -> None:
    assert _ask(tmp_path, "Where is the zebra?")[0] == 2
    assert _ask(tmp_path, str(_repo(tmp_path)), "-q", "  ")[0] == 2


_BLOCK = re.compile(r'<document id="([^"]+)" fidelity="full"( part="[^"]*")?>\n(.*?)</document>',
                    re.S)
_NUMBERED = re.compile(r"^(?:(\d+)\t| *(\d+)│)", re.M)


def _modules(root: Path, count: int, *, lines: int) -> Path:
    """A git repo of `count` Python modules of `lines` lines each: too much for a small budget."""
    (root / "pkg").mkdir(parents=True)
    for i in range(count):
        body = "".join(f"def handler_{i}_{j}(request):\n    return request * {j}\n"
                       for j in range(lines // 2))
        (root / "pkg" / f"mod{i}.py").write_text(body)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "."], check=True)
    return root


def _cite_past_what_was_shown(system: str) -> str:
    """Cites, from what the prompt showed: a path-only file (one of the modules with no block;
    the tree may have folded it into its folder's line), a partly shown file at a line it showed
    and at the first line it did not, and a wholly shown file."""
    blocks = _BLOCK.findall(system)
    with_block = {path for path, _, _ in blocks}
    path_only = next(f"pkg/mod{i}.py" for i in range(6) if f"pkg/mod{i}.py" not in with_block)
    sentences = [f"Listed only: `{path_only}:1`."]
    for path, part, body in blocks:
        numbers = sorted({int(a or b) for a, b in _NUMBERED.findall(body)})
        if part:
            hidden = next(n for n in range(1, 10_000) if n not in numbers)
            sentences += [f"Shown: `{path}:{numbers[0]}`.", f"Not shown: `{path}:{hidden}`."]
        else:
            sentences.append(f"Whole: `{path}:2`.")
    return "\n".join(sentences)


def test_citations_to_what_the_pack_did_not_show_are_flagged_not_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, _cite_past_what_was_shown)
    repo = _modules(tmp_path / "repo", 6, lines=160)
    args = (str(repo), "Which handler?", "--budget", "1500")
    code, output = _ask(tmp_path, *args, "--json", backend="scripted")
    assert code == 0, output
    answer = json.loads(output)["answers"][0]
    kinds: dict[str, set[str]] = {}
    for line, citation in zip(answer["answer"].split("\n"), answer["citations"], strict=True):
        kinds.setdefault(line.split(":")[0], set()).add(citation["status"])
    assert kinds == {"Listed only": {"not-shown"}, "Shown": {"ok"}, "Not shown": {"not-shown"},
                     "Whole": {"ok"}}
    piped = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "ask", "--backend",
                                     "scripted", *args])
    assert re.search(r"^! pkg/mod\d\.py:1: not-shown — the pack showed pkg/mod\d\.py as path only",
                     piped.stderr, re.M)
    assert "not in what the pack showed" in piped.stderr


def _cite_around_an_outline(system: str) -> str:
    """From a block showing some definitions as outline lines (` 19│ def handler_3_9(…`): the
    signature line (shown), the body line under it (not shown), and that body line's text quoted
    at the signature (only in a line the model did not see)."""
    found = re.search(r"^<document id=\"([^\"]+)\"(?:(?!</document>).)*?"
                      r"^ *(\d+)│ def handler_\d+_(\d+)", system, re.M | re.S)
    if found is None:
        return "No outline was shown."
    path, line, j = found[1], int(found[2]), found[3]
    return (f"Signature: `{path}:{line}` `def handler`.\nBody: `{path}:{line + 1}`.\n"
            f"Quoted: `{path}:{line}` `return request * {j}`.\n")


def test_an_outline_shows_signature_lines_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, _cite_around_an_outline)
    repo = _modules(tmp_path / "repo", 6, lines=160)
    code, output = _ask(tmp_path, str(repo), "Which handler_3_7?", "--budget", "1000", "--json",
                        backend="scripted")
    assert code == 0, output
    citations = json.loads(output)["answers"][0]["citations"]
    assert [c["status"] for c in citations] == ["ok", "not-shown", "quote-not-found"], citations


def _cite_pages(system: str) -> str:
    """The last page the prompt showed of report.pdf, and the page after it."""
    last = max(int(n) for n in re.findall(r'<page id="report\.pdf#page=(\d+)"', system))
    return f"Shown: report.pdf#page={last}.\nNot shown: report.pdf#page={last + 1}.\n"


def test_pages_a_cut_pdf_did_not_show_are_not_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.pdfs import pdf_bytes

    register_scripted(monkeypatch, _cite_pages)
    docs = tmp_path / "docs"
    docs.mkdir()
    pages = [f"Page {i} says budget line {i} is " + "word " * 80 for i in range(1, 13)]
    (docs / "report.pdf").write_bytes(pdf_bytes(pages))
    code, output = _ask(tmp_path, str(docs), "What does page 3 say?", "--budget", "300", "--json",
                        backend="scripted")
    assert code == 0, output
    citations = json.loads(output)["answers"][0]["citations"]
    assert [c["status"] for c in citations] == ["ok", "not-shown"], citations
    assert int(citations[1]["raw"].split("=")[1]) < 12


def test_a_citation_to_a_skipped_file_is_not_shown_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, lambda system: "The logo is in `logo.bin:1`.")
    repo = _repo(tmp_path)
    (repo / "logo.bin").write_bytes(b"\x00\x01\x02 not text\n" * 50)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    code, output = _ask(tmp_path, str(repo), "Where is the logo?", "--json", backend="scripted")
    assert code == 0, output
    [citation] = json.loads(output)["answers"][0]["citations"]
    assert citation["status"] == "not-shown", citation
    assert "as skipped (binary" in citation["detail"]


_MARKDOWN = (
    "Notes are stored by `NoteStore.add` in `app/store.py:4` — a very long line that a terminal "
    "renderer would wrap at eighty columns, and `backticks` must survive.\n\n"
    "| method | line |\n|---|---|\n| `add` | 4 |\n"
)


def test_piped_answer_is_the_markdown_the_model_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, lambda system: _MARKDOWN)
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "ask", "--backend",
                                      "scripted", str(_repo(tmp_path)), "Where are notes stored?"])
    assert result.exit_code == 0, result.output
    assert result.stdout == _MARKDOWN
    assert "fake-model, " in result.stderr and "prompt tokens" in result.stderr
    two = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "ask", "--backend",
                                   "scripted", str(tmp_path / "notes"), "-q", "One?", "-q", "Two?"])
    assert two.stdout == f"## One?\n\n{_MARKDOWN}\n## Two?\n\n{_MARKDOWN}"


@pytest.mark.slow
def test_on_a_terminal_the_answer_is_rendered(tmp_path: Path) -> None:
    """The real CLI with its stdout on a pseudo-terminal, as a user's shell gives it."""
    reply = _MARKDOWN + "See `nowhere/x.py:3`.\n"
    code, shown, stderr = on_a_terminal(
        [*scripted_longread(reply), "--cache-dir", str(tmp_path / "cache"), "ask", "--backend",
         "scripted", str(_repo(tmp_path)), "Where are notes stored?"],
        env=child_env(TERM="xterm-256color", COLUMNS="100"))
    assert code == 0, stderr
    assert "NoteStore.add" in shown and "|---|" not in shown  # rich drew the table
    assert "`backticks`" not in shown and "backticks" in shown  # and the code spans
    assert "nowhere/x.py:3: unknown-path" in shown
    piped = subprocess.run(
        [*scripted_longread(reply), "--cache-dir", str(tmp_path / "cache"), "ask", "--backend",
         "scripted", str(tmp_path / "notes"), "Where are notes stored?"],
        env=child_env(), capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and piped.stdout == reply  # into a pipe: the Markdown as written


def test_comment_and_blank_lines_in_a_questions_file_are_not_asked(
    tmp_path: Path, fake_backend_registered: list[FakeBackend]
) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text("# what the team wants to know\n\nWhere is the zebra?\n  # aside\n"
                         "What does add return?\r\n\x0c\n")
    code, output = _ask(tmp_path, str(_repo(tmp_path)), "--questions", str(questions), "--json")
    assert code == 0, output
    assert [a["question"] for a in json.loads(output)["answers"]] == [
        "Where is the zebra?", "What does add return?"]
    assert len(fake_backend_registered[0].requests) == 2


def test_a_form_feed_does_not_shift_citations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, lambda system: "Past the end: `m.py:5` `return 42`.\n"
                                                  "At the end: `m.py:4` `return 42`.")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "m.py").write_text("import os\n\x0c\ndef target():\n    return 42\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    code, output = _ask(tmp_path, str(repo), "Where does target return?", "--json",
                         backend="scripted")
    assert code == 0, output
    citations = json.loads(output)["answers"][0]["citations"]
    assert [(c["raw"], c["status"]) for c in citations] == [
        ("m.py:5", "out-of-range"), ("m.py:4", "ok")]


def test_a_named_symbol_is_not_a_quote_and_a_quote_stays_in_its_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, lambda system: (
        "`NoteStore.add` (app/store.py:4) stores a note. It is defined at app/store.py:4 as "
        '"def teleport(self)". See README.md:2 for the mascot.'))
    code, output = _ask(tmp_path, str(_repo(tmp_path)), "How are notes stored?", "--json",
                         backend="scripted")
    assert code == 0, output
    citations = json.loads(output)["answers"][0]["citations"]
    assert [(c["raw"], c["quote"], c["status"]) for c in citations] == [
        ("app/store.py:4", None, "ok"),
        ("app/store.py:4", "def teleport(self)", "quote-not-found"),
        ("README.md:2", None, "ok"),
    ]


@pytest.mark.vllm
def test_real_engine_ask_checks_every_citation(
    tmp_path: Path, vllm_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(BACKENDS, "session-vllm", lambda **_: RecordingBackend(vllm_backend))
    repo = _repo(tmp_path)
    settings = Settings(cache_dir=tmp_path / "cache", backend="session-vllm", max_tokens=48)
    result = run_ask(settings, CorpusSpec.of([repo]),
                     ["What does NoteStore.add return? Cite the line."])
    [checked] = result.answers
    assert checked.answer.text and checked.answer.prompt_tokens > 0
    assert all(c.status in ("ok", "unknown-path", "out-of-range", "quote-not-found")
               for c in checked.citations)
    index = CorpusIndex(read_corpus(CorpusSpec.of([repo])).documents)
    planted = check_citations(checked.answer.text + "\nSee `app/store.py:99`.", index)
    assert planted[-1].status == "out-of-range"
