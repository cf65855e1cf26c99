"""What `longread summarize` costs over a 1,000-document set, against a stand-in server: the
prompt tokens of the map and of every reduce level, the coverage table, a run killed half-way.

"Corpus tokens" is the pack's count (every document with its id and line numbers, as the model
reads it once); the documents' bare text is smaller, and the test bounds that ratio too.
benchmarks/bench_summary_cost.py prints the same figures with wall times.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from longread.analysis.cli.commands import cli  # noqa: E402
from tests.faultserver import FaultServer  # noqa: E402
from tests.killed_runs import shard_rows, wait_for
from tests.summary_standin import MODEL, SummaryServer, make_corpus, tokens  # noqa: E402

pytestmark = pytest.mark.slow  # a thousand documents a run: seconds each

WINDOW = 8192
WAIT_S = 120.0


@pytest.fixture
def stand_in() -> Iterator[SummaryServer]:
    with FaultServer() as server:
        running = SummaryServer(server, window=WINDOW)
        yield running
        running.release()


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("set") / "docs"
    return root, make_corpus(root, 1000)


def _flags(url: str) -> list[str]:
    return ["--backend", "openai", "--base-url", url, "--model", MODEL, "--max-tokens", "512"]


def _summarize(cache: Path, root: Path, url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--cache-dir", str(cache), "summarize", str(root), "--json",
                                    *_flags(url), *args])


def test_a_1000_document_summary_sends_at_most_1_15x_the_corpus_and_covers_every_document(
    tmp_path: Path, documents: tuple[Path, dict[str, str]], stand_in: SummaryServer
) -> None:
    root, texts = documents
    result = _summarize(tmp_path / "cache", root, stand_in.server.url)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    sent = stand_in.prompt_tokens["map"] + stand_in.prompt_tokens["reduce"]
    assert stand_in.requests["map"] >= 25 and stand_in.requests["reduce"] >= 2  # two levels
    assert sent <= 1.15 * data["pack"]["tokens"]
    # the ids and line numbers that make every place citable cost ~14% over the bare text here
    assert sent <= 1.35 * tokens("\n".join(texts.values()))
    rows = data["coverage"]
    assert sorted(row["path"] for row in rows) == sorted(texts)
    assert {row["status"] for row in rows} <= {"cited", "merged away", "not cited"}


def test_a_summary_killed_half_way_resumes_and_asks_again_only_what_was_in_flight(
    tmp_path: Path, documents: tuple[Path, dict[str, str]], stand_in: SummaryServer
) -> None:
    root, texts = documents
    answered, concurrency, cache = 14, 4, tmp_path / "cache"
    stand_in.answer_only = answered
    command = [sys.executable, "-m", "longread.analysis.cli", "--cache-dir", str(cache),
               "summarize", str(root), *_flags(stand_in.server.url),
               "--concurrency", str(concurrency)]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           env={**os.environ, "LONGREAD_MAX_RETRIES": "0"})
    try:
        wait_for(lambda: stand_in.in_flight == concurrency
                  and stand_in.maps_answered == answered, "the held requests", WAIT_S)
        wait_for(lambda: shard_rows(cache) == answered, "the cached shards", WAIT_S)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    first = set(stand_in.answered)
    stand_in.release()
    seen = len(stand_in.server.requests_to("/v1/chat/completions"))
    resumed = _summarize(cache, root, stand_in.server.url)
    assert resumed.exit_code == 0, resumed.output
    rest = stand_in.map_prompts(since=seen)
    data = json.loads(resumed.stdout)
    assert len(first) == answered and not first & set(rest)  # nothing answered is asked again
    assert len(rest) == data["summary"]["shards"] - answered  # only the 4 in flight were lost
    assert sorted(row["path"] for row in data["coverage"]) == sorted(texts)
