"""Work spread over worker processes gives what one process gives, in the same order."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import longread.ingest.redact_corpus as redact_corpus
import longread.ingest.tokens as tokens
import longread.ingest.workers as workers
from longread.analysis.cli.commands import cli
from longread.ingest.workers import balanced, map_batches

TOKEN = "ghp_" + "Zq7Lm2Xc9Vb4Nn1Kk8Jj3Hh6Gg5Ff0Dd2Ss"


def test_results_come_back_in_item_order() -> None:
    items = [f"item {i}" for i in range(200)]
    sizes = [(i * 37) % 101 for i in range(200)]
    assert map_batches(list, items, sizes, parallel_from=0) == items


def _no_pool(*args: object, **kwargs: object) -> None:
    raise AssertionError("a pool was started")


def test_small_work_stays_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "ProcessPoolExecutor", _no_pool)
    assert map_batches(list, ["a", "b"], [1, 1], parallel_from=100) == ["a", "b"]


def test_one_core_starts_no_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "ProcessPoolExecutor", _no_pool)
    monkeypatch.setattr(workers, "WORKERS", 0)
    assert map_batches(list, ["a", "b"], [10**9, 1], parallel_from=0) == ["a", "b"]


_CALLED_HERE: list[int] = []


def _unreadable(chunk: list[str]) -> list[str]:
    _CALLED_HERE.append(len(chunk))  # only this process's calls land in this list
    raise FileNotFoundError(chunk[0])


def test_an_oserror_of_the_work_itself_propagates_and_is_not_redone_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workers, "WORKERS", 1)
    items = [f"item {i}" for i in range(40)]
    with pytest.raises(FileNotFoundError):
        map_batches(_unreadable, items, [1] * len(items), parallel_from=0)
    assert _CALLED_HERE and len(items) not in _CALLED_HERE  # the whole list never went again


def test_batches_hold_every_item_once_and_are_balanced() -> None:
    sizes = [5, 1, 9, 3, 3, 7, 2, 8]
    batches = balanced(sizes, 3)
    assert sorted(i for batch in batches for i in batch) == list(range(len(sizes)))
    totals = [sum(sizes[i] for i in batch) for batch in batches]
    assert max(totals) - min(totals) <= max(sizes)


def _repository(root: Path, functions: int = 40) -> None:
    for index in range(60):
        body = "".join(f"def f{index}_{n}(x):\n    return x + {n}\n" for n in range(functions))
        if index % 7 == 0:
            body += f"GITHUB_TOKEN = '{TOKEN}'\n"
        (root / f"module_{index:02}.py").write_text(body, encoding="utf-8")


def _pack(tmp_path: Path, root: Path, name: str) -> tuple[bytes, dict]:
    out, manifest = tmp_path / f"{name}.xml", tmp_path / f"{name}.json"
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / f"cache-{name}"), "pack",
                                      str(root), "-o", str(out), "--manifest", str(manifest)])
    assert result.exit_code == 0, result.output
    return out.read_bytes(), json.loads(manifest.read_text(encoding="utf-8"))


def test_a_scan_on_both_cores_packs_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    _repository(root)
    serial, serial_manifest = _pack(tmp_path, root, "serial")
    monkeypatch.setattr(redact_corpus, "PARALLEL_CHARS", 0)
    parallel, parallel_manifest = _pack(tmp_path, root, "parallel")
    assert TOKEN.encode() not in parallel
    assert parallel == serial
    assert parallel_manifest == serial_manifest
    assert len(parallel_manifest["redactions"]) == 9


def test_counting_on_both_cores_packs_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cl100k counts from the worker processes equal this process's, file by file."""
    root = tmp_path / "repo"
    root.mkdir()
    _repository(root, functions=120)  # files over the size that is counted one by one
    serial, serial_manifest = _pack(tmp_path, root, "serial")
    monkeypatch.setattr(tokens, "PARALLEL_CHARS", 0)
    pooled, calls = workers._pooled, []

    def spy(work, chunks):  # type: ignore[no-untyped-def]
        calls.append(work)
        return pooled(work, chunks)

    monkeypatch.setattr(workers, "_pooled", spy)
    parallel, parallel_manifest = _pack(tmp_path, root, "parallel")
    assert calls == [tokens._count_cl100k] or workers.WORKERS < 1
    assert parallel == serial
    assert parallel_manifest == serial_manifest


def test_main_is_restored_when_two_threads_start_pools_at_once() -> None:
    """A thread that starts a pool while another one's start hides `__main__` waits for it, and
    does not save (and then restore) the hidden values."""
    main = sys.modules["__main__"]
    before = {name: main.__dict__.get(name) for name in ("__spec__", "__file__")}
    entered, release, first_out = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with workers._main_left_out():
            entered.set()
            release.wait(5)
        first_out.set()

    def second() -> None:  # leaves after the first one: the order that lost the values
        with workers._main_left_out():
            first_out.wait(5)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert entered.wait(5)
    threads[1].start()
    time.sleep(0.2)
    release.set()
    for thread in threads:
        thread.join(5)
    assert {name: main.__dict__.get(name) for name in before} == before
