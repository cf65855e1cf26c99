"""A cache-hit `longread ask` on the default backend loads only what a hit needs, and still misses
when the corpus changes.

The answer is generated once by a scripted engine behind the real embedded-model identity and
tokenizer (so the cache key is the one a real run writes); the hit runs the real `longread` entry
point in a fresh interpreter and reports which modules it imported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from longread.analysis.cli.commands import cli
from longread.engine.backend import BACKENDS
from tests.fakes import FakeBackend

NOTES_APP = Path(__file__).resolve().parents[2] / "examples" / "notes-app"
QUESTION = "Where are the notes stored?"
# Loaded lazily where they are used; a hit uses none of them (nor the engine).
HEAVY = {"numpy", "rich", "pypdfium2", "filelock", "tokenizers", "detect_secrets", "jsonschema",
         "vllm", "torch", "transformers", "sqlalchemy"}
HIT = """
import atexit, json, sys
out, *args = sys.argv[1:]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["longread", *args]
from longread.engine.backend import BACKENDS
def refuse(**options):
    raise SystemExit("a cache hit started the engine")
BACKENDS["vllm"] = refuse
from longread.analysis.cli.commands import main
sys.exit(main())
"""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """examples/notes-app as a git repository of its own."""
    repo = tmp_path / "notes-app"
    shutil.copytree(NOTES_APP, repo)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    return repo


@pytest.fixture
def cache(tmp_path: Path, default_model_dir: Path) -> Path:
    """A cache dir holding the pulled embedded model (its identity and tokenizer are real)."""
    path = tmp_path / "cache"
    path.mkdir()
    (path / "models").symlink_to(default_model_dir.parent)
    return path


@pytest.fixture
def engines(monkeypatch: pytest.MonkeyPatch) -> list[FakeBackend]:
    """The in-process engine replaced by a scripted one; each start is recorded."""
    started: list[FakeBackend] = []

    def start(**options: Any) -> FakeBackend:
        started.append(FakeBackend(context_window=100_000))
        return started[-1]

    monkeypatch.setitem(BACKENDS, "vllm", start)
    return started


def _ask(cache: Path, repo: Path) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["--cache-dir", str(cache), "ask", "--json", str(repo),
                                      QUESTION])
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)["answers"][0]
    return answer


def _hit_in_fresh_process(
    cache: Path, repo: Path, tmp_path: Path
) -> tuple[dict[str, Any], set[str]]:
    modules = tmp_path / "modules.json"
    args = [str(modules), "--cache-dir", str(cache), "ask", "--json", str(repo), QUESTION]
    done = subprocess.run([sys.executable, "-c", HIT, *args], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = {name.split(".")[0] for name in json.loads(modules.read_text())}
    return json.loads(done.stdout)["answers"][0], loaded


@pytest.mark.slow
def test_a_hit_imports_no_heavy_module(
    corpus: Path, cache: Path, engines: list[FakeBackend], tmp_path: Path
) -> None:
    first = _ask(cache, corpus)
    assert first["from_cache"] is False and len(engines) == 1
    hit, loaded = _hit_in_fresh_process(cache, corpus, tmp_path)
    assert hit["from_cache"] is True and hit["answer"] == first["answer"]
    assert loaded & HEAVY == set()
    assert {"sqlite3", "click"} <= loaded  # the check sees the process's imports


@pytest.mark.slow
def test_an_edited_or_added_file_still_misses(
    corpus: Path, cache: Path, engines: list[FakeBackend], tmp_path: Path
) -> None:
    assert _ask(cache, corpus)["from_cache"] is False
    assert _hit_in_fresh_process(cache, corpus, tmp_path)[0]["from_cache"] is True
    store = corpus / "notes" / "store.py"
    store.write_text(store.read_text() + "\nARCHIVE = 'notes/archive'\n")
    assert _ask(cache, corpus)["from_cache"] is False and len(engines) == 2
    assert _hit_in_fresh_process(cache, corpus, tmp_path)[0]["from_cache"] is True
    (corpus / "notes" / "sync.py").write_text("def sync():\n    return 'cloud'\n")
    subprocess.run(["git", "-C", str(corpus), "add", "."], check=True)
    assert _ask(cache, corpus)["from_cache"] is False and len(engines) == 3


@pytest.mark.parametrize(
    ("environ", "draws"),
    [({}, False), ({"FORCE_COLOR": "1"}, True), ({"TTY_COMPATIBLE": "1"}, True),
     ({"FORCE_COLOR": "1", "TTY_COMPATIBLE": "0"}, False)],
)
def test_progress_bars_draw_exactly_where_rich_sees_a_terminal(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], draws: bool
) -> None:
    """The check that keeps rich out of a piped run agrees with rich's own."""
    from longread.analysis.cli.progress_bars import progress_bar
    from longread.ingest.progress import no_progress

    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with progress_bar() as progress:
        assert (progress is not no_progress) is draws
        progress("reading", 1, 2)
