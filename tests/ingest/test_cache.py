from __future__ import annotations

import hashlib
import multiprocessing
from pathlib import Path

from longread.ingest.cache import FileStat, IngestCache, Scanned
from longread.ingest.document import Outline, Section, Symbol
from longread.ingest.textfile import Extraction


def test_stat_index_answers_only_for_unchanged_stats(tmp_path: Path) -> None:
    with IngestCache(tmp_path / "c.sqlite") as cache:
        stat = FileStat("/abs/a.py", 10, 1_700_000_000_123_456_789, 42)
        cache.put_hashes({stat: "aa"})
        assert cache.known_hashes([stat]) == {"/abs/a.py": "aa"}
        touched = FileStat("/abs/a.py", 10, 1_700_000_000_123_456_790, 42)
        replaced = FileStat("/abs/a.py", 10, 1_700_000_000_123_456_789, 43)
        assert cache.known_hashes([touched]) == {}
        assert cache.known_hashes([replaced]) == {}


def test_scanned_files_round_trip_with_skips_and_where_secrets_were(tmp_path: Path) -> None:
    pages = Scanned(Extraction(
        sections=(Section("one", 1, True), Section("[REDACTED:api-key]", 2, False),
                  Section("read by OCR", 3, False, 93.4)),
        notes=("page 2 has no text layer (scanned?)", "page 3 has no text layer: read by OCR"),
    ), ((1, "API Key", 2),))
    text = Scanned(Extraction((Section("x = 1\n"),)))
    broken = Scanned(Extraction(skip_reason="unreadable PDF (bad xref)"))
    with IngestCache(tmp_path / "c.sqlite") as cache:
        cache.put_scanned({"k1": pages, "k2": broken, "k3": text})
        found = cache.get_scanned(["k1", "k2", "k3", "k4"])
    assert found == {"k1": pages, "k2": broken, "k3": text}


def test_ocr_pages_round_trip_by_key(tmp_path: Path) -> None:
    with IngestCache(tmp_path / "c.sqlite") as cache:
        cache.put_ocr({"k1": ("words on a scan", 91.5), "k2": ("", 0.0)})
        assert cache.get_ocr(["k1", "k2", "k3"]) == {"k1": ("words on a scan", 91.5),
                                                     "k2": ("", 0.0)}


def test_the_stat_index_keeps_no_path(tmp_path: Path) -> None:
    with IngestCache(tmp_path / "c.sqlite") as cache:
        cache.put_hashes({FileStat("/abs/AKIAZ3K7M9P2Q4R6T8VY.txt", 1, 2, 3): "aa"})
    assert b"AKIAZ3K7M9P2Q4R6T8VY" not in (tmp_path / "c.sqlite").read_bytes()


def test_outlines_round_trip_per_outliner_version(tmp_path: Path) -> None:
    outline = Outline(
        language="python",
        symbols=(Symbol("f", "function", 3, 9, "@cache\ndef f(\n    x: int,\n) -> int:"),),
        definitions=("f",),
        references=("cache", "int"),
    )
    with IngestCache(tmp_path / "c.sqlite") as cache:
        cache.put_outline("ts-1", "sha", "python", outline)
        assert cache.get_outline("ts-1", "sha", "python") == outline
        assert cache.get_outline("ts-2", "sha", "python") is None
        assert cache.get_outline("ts-1", "sha", "go") is None


def test_token_counts_in_bulk_past_the_variable_limit(tmp_path: Path) -> None:
    counts = {hashlib.sha256(f"block {i}".encode()).hexdigest(): i for i in range(5000)}
    with IngestCache(tmp_path / "c.sqlite") as cache:
        cache.put_token_counts("cl100k", counts)
        assert cache.get_token_counts("cl100k", list(counts) + ["unknown"]) == counts
        assert cache.get_token_counts("hf:other", counts) == {}
        assert cache.get_token_counts("cl100k", []) == {}


def test_corrupt_cache_file_is_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with IngestCache(path) as cache:
        cache.put_token_counts("cl100k", {"h": 1})
        assert cache.get_token_counts("cl100k", ["h"]) == {"h": 1}
    assert list(tmp_path.glob("c.sqlite.corrupt-*"))


def _write_counts(path: str, worker: int) -> None:
    with IngestCache(Path(path)) as cache:
        for batch in range(20):
            cache.put_token_counts(
                "cl100k", {f"w{worker}-{batch}-{i}": i for i in range(100)}
            )


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    IngestCache(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_counts, args=(str(path), n)) for n in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    wanted = [f"w{w}-{b}-{i}" for w in range(2) for b in range(20) for i in range(100)]
    with IngestCache(path) as cache:
        assert len(cache.get_token_counts("cl100k", wanted)) == 4000
