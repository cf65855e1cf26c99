"""`longread ask` through the CLI with the fake backend (the real engine: test_vllm_ask.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes import FakeBackend, RecordingBackend, register_fake  # noqa: E402

from longread.analysis.ask import run_ask  # noqa: E402
from longread.analysis.citations import CorpusIndex, check_citations  # noqa: E402
from longread.analysis.cli import cli  # noqa: E402
from longread.analysis.config import Settings  # noqa: E402
from longread.engine.backend import BACKENDS  # noqa: E402
from longread.ingest.corpus import read_corpus  # noqa: E402


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


def _ask(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["--cache-dir", str(tmp_path / "cache"), "ask", "--backend", "fake", *args]
    )
    return result.exit_code, result.output


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


def test_terminal_output_flags_unresolved_citations(
    tmp_path: Path, fake_backend_registered: list[FakeBackend]
) -> None:
    code, output = _ask(tmp_path, str(_repo(tmp_path)), "Where is the zebra?", "--no-cache")
    assert code == 0, output
    assert "nowhere/missing.py:3: unknown-path" in output and "README.md:1:" not in output


def test_missing_question_or_path_is_a_usage_error(
    tmp_path: Path, fake_backend_registered: list[FakeBackend]
) -> None:
    assert _ask(tmp_path, "Where is the zebra?")[0] == 2
    assert _ask(tmp_path, str(_repo(tmp_path)), "-q", "  ")[0] == 2


@pytest.mark.vllm
def test_real_engine_ask_checks_every_citation(
    tmp_path: Path, vllm_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(BACKENDS, "session-vllm", lambda **_: RecordingBackend(vllm_backend))
    repo = _repo(tmp_path)
    settings = Settings(cache_dir=tmp_path / "cache", backend="session-vllm", max_tokens=48)
    result = run_ask(settings, [repo], ["What does NoteStore.add return? Cite the line."])
    [checked] = result.answers
    assert checked.answer.text and checked.answer.prompt_tokens > 0
    assert all(c.status in ("ok", "unknown-path", "out-of-range", "quote-not-found")
               for c in checked.citations)
    index = CorpusIndex(read_corpus([repo]).documents)
    planted = check_citations(checked.answer.text + "\nSee `app/store.py:99`.", index)
    assert planted[-1].status == "out-of-range"
