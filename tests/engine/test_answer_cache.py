"""The answer cache on real SQLite files: keys, round trips, many writers, kills, corrupt files."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from longread.analysis.cli.commands import cli
from longread.engine.answer_cache import AnswerCache, answer_key
from longread.engine.backend import Completion, SamplingSettings

ROOT = Path(__file__).resolve().parents[2]
STRESS_SECONDS = float(os.environ.get("LONGREAD_STRESS_SECONDS", "5"))
BASE: dict[str, Any] = {
    "pack_digest": "pack-1",
    "question": "What does it do?",
    "model_identity": {"backend": "vllm", "model": "smollm2", "dtype": "bfloat16"},
    "sampling": SamplingSettings(),
    "prompt_version": "p1",
}


def completion(text: str = "It answers questions.") -> Completion:
    return Completion(text, 100, 90, 7, 1.5, "stop")


def test_round_trip_and_idempotent_replace(tmp_path: Path) -> None:
    with AnswerCache(tmp_path / "answers.sqlite") as cache:
        key = answer_key(**BASE)
        assert cache.get(key) is None
        cache.put(key, completion("first"), meta={"question": "q"})
        cache.put(key, completion(), meta={"question": "q", "shards": 1})
        hit = cache.get(key)
        assert hit is not None and hit.completion() == completion()
        assert hit.meta == {"question": "q", "shards": 1} and hit.created_at <= time.time()
        assert cache.stats()["rows"] == 1


@pytest.mark.parametrize(
    "change",
    [
        {"pack_digest": "pack-2"},
        {"question": "What does it do? "},
        {"model_identity": {"backend": "vllm", "model": "smollm2", "dtype": "float32"}},
        {"sampling": SamplingSettings(temperature=0.7)},
        {"sampling": SamplingSettings(max_tokens=256)},
        {"sampling": SamplingSettings(seed=1)},
        {"prompt_version": "p2"},
        {"kind": "shard"},
        {"extra": {"shard": 0}},
    ],
)
def test_key_changes_with_each_component(change: dict[str, Any]) -> None:
    assert answer_key(**{**BASE, **change}) != answer_key(**BASE)


def test_key_ignores_dict_order() -> None:
    reordered = {"dtype": "bfloat16", "model": "smollm2", "backend": "vllm"}
    assert answer_key(**{**BASE, "model_identity": reordered}) == answer_key(**BASE)
    assert len(answer_key(**BASE)) == 64


def test_stats_by_kind_and_clear(tmp_path: Path) -> None:
    with AnswerCache(tmp_path / "answers.sqlite") as cache:
        cache.put("a", completion(), meta={})
        cache.put("s1", completion(), kind="shard", meta={})
        cache.put("s2", completion(), kind="shard", meta={})
        stats = cache.stats()
        assert (stats["rows"], stats["by_kind"]) == (3, {"answer": 1, "shard": 2})
        assert stats["bytes"] > 0 and stats["oldest"] <= stats["newest"]
        assert cache.clear() == 3
        assert cache.stats()["rows"] == 0 and cache.get("a") is None


def test_importing_the_cache_loads_no_model_code() -> None:
    code = (
        "import sys, longread.engine.answer_cache\n"
        "heavy = {'vllm', 'torch', 'transformers'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_many_processes_writing_lose_nothing(tmp_path: Path) -> None:
    script = ROOT / "benchmarks" / "cache_stress.py"
    args = ["--processes", "8", "--seconds", str(STRESS_SECONDS), "--json"]
    args += ["--path", str(tmp_path / "stress.sqlite")]
    run = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=300
    )
    figures = json.loads(run.stdout)
    assert figures["rows_written"] > 0 and figures["first_error"] == ""
    assert (figures["rows_lost"], figures["errors"], figures["read_mismatches"]) == (0, 0, 0)
    assert figures["integrity_check"] == "ok" and run.returncode == 0


def test_many_processes_writing_to_postgresql_lose_nothing(pg_url: str) -> None:
    """The same race on a real PostgreSQL: 4 processes x 50 answers each, every one present."""
    script = ROOT / "benchmarks" / "cache_stress.py"
    args = ["--processes", "4", "--jobs", "50", "--cache-url", pg_url, "--json"]
    run = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=300
    )
    figures = json.loads(run.stdout)
    assert figures["database"] == "postgresql" and figures["first_error"] == ""
    assert (figures["rows_written"], figures["rows_present"]) == (200, 200)
    assert (figures["rows_lost"], figures["errors"], figures["read_mismatches"]) == (0, 0, 0)
    assert run.returncode == 0


KILLED_WRITER = """
import sys
from pathlib import Path
from longread.engine.answer_cache import AnswerCache
from longread.engine.backend import Completion
cache = AnswerCache(Path(sys.argv[1]))
n = 0
while True:
    cache.put(f"row-{n}", Completion("x" * 300_000, n, 0, 1, 0.0), meta={"n": n})
    n += 1
    if n == 1:
        print("ready", flush=True)
"""


@pytest.mark.slow
def test_writer_killed_mid_write_leaves_a_sound_cache(tmp_path: Path) -> None:
    path = tmp_path / "answers.sqlite"
    for round_ in range(3):
        writer = subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        time.sleep(0.3 + 0.2 * round_)
        writer.send_signal(signal.SIGKILL)
        assert writer.wait(timeout=30) == -signal.SIGKILL
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        with AnswerCache(path) as cache:
            hit = cache.get("row-0")
            assert hit is not None and len(hit.text) == 300_000
            cache.put("after-kill", completion(), meta={})
            assert cache.get("after-kill") is not None


def test_corrupt_file_is_moved_aside_and_rebuilt_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "answers.sqlite"
    path.write_bytes(os.urandom(64 * 1024))
    with caplog.at_level(logging.WARNING, logger="longread"), AnswerCache(path) as cache:
        cache.put("k", completion(), meta={})
        assert cache.get("k") is not None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "corrupt" in warnings[0].getMessage()
    assert len(list(tmp_path.glob("answers.sqlite.corrupt-*"))) == 1


def test_cache_commands_report_and_clear(tmp_path: Path) -> None:
    with AnswerCache(tmp_path / "answers.sqlite") as cache:
        cache.put("a", completion(), meta={})
        cache.put("s", completion(), kind="shard", meta={})
    runner = CliRunner()
    base = ["--cache-dir", str(tmp_path), "cache"]
    paths = runner.invoke(cli, [*base, "path"])
    assert paths.exit_code == 0 and str(tmp_path / "answers.sqlite") in paths.output
    stats = runner.invoke(cli, [*base, "stats", "--json"])
    assert json.loads(stats.output)["answers"]["by_kind"] == {"answer": 1, "shard": 1}
    refused = runner.invoke(cli, [*base, "clear"], input="n\n")
    assert refused.exit_code == 1 and "rows:    2" in runner.invoke(cli, [*base, "stats"]).output
    cleared = runner.invoke(cli, [*base, "clear", "--yes"])
    assert cleared.exit_code == 0 and "removed 2 cached answers" in cleared.output
