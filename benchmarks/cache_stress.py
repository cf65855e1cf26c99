"""Many processes writing one answer cache at once: rows lost? writers failing? the file sound?

    python benchmarks/cache_stress.py --processes 8 --seconds 30 [--path FILE] [--json]
    python benchmarks/cache_stress.py --processes 4 --jobs 50 --cache-url postgresql://…

Each writer puts rows with keys it can name later ("stress-<writer>-<n>"), for --seconds or for
--jobs rows, and reads back a few of its own as it goes; at the end the parent checks that every
row a writer committed is there and (SQLite) runs `PRAGMA integrity_check`. --cache-url runs the
same race on a PostgreSQL database (its stress rows are deleted first). The test suite runs it
briefly; the 30 s figure comes from here.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from longread.engine.answer_cache import AnswerCache
from longread.engine.backend import Completion

PAYLOAD = "answer text " * 200  # ~2.4 KB, the size of a short answer


def _writer(where: Path | str, writer: int, seconds: float, jobs: int, results: Any) -> None:
    written, errors, mismatches, first_error = 0, 0, 0, ""
    deadline = time.monotonic() + seconds
    with AnswerCache(where) as cache:
        while (written + errors < jobs) if jobs else time.monotonic() < deadline:
            key = f"stress-{writer}-{written}"
            try:
                cache.put(key, _completion(written), kind="stress", meta={"writer": writer})
                written += 1
                if written % 10 == 0:
                    back = cache.get(f"stress-{writer}-{written // 2}")
                    mismatches += back is None or back.prompt_tokens != written // 2
            except Exception as exc:  # noqa: BLE001 — counting failures is the point
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
    results.put(
        {
            "writer": writer,
            "written": written,
            "errors": errors,
            "mismatches": mismatches,
            "first_error": first_error,
        }
    )


def _completion(n: int) -> Completion:
    return Completion(
        text=PAYLOAD, prompt_tokens=n, cached_tokens=0, completion_tokens=1, seconds=0.0
    )


def run(
    where: Path | str, *, processes: int, seconds: float, jobs: int = 0
) -> dict[str, Any]:
    """Run the writers against `where` (a file or a postgresql:// URL) for `seconds`, or `jobs`
    rows each, and return the figures (rows written, lost, errors, ...)."""
    with AnswerCache(where) as cache:  # create and migrate once, before the race
        if isinstance(where, str):
            _clear_stress_rows(cache)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=_writer, args=(where, n, seconds, jobs, results))
        for n in range(processes)
    ]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=(0 if jobs else seconds) + 120 + jobs) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    elapsed = time.monotonic() - started
    return _figures(where, reports, elapsed)


def _clear_stress_rows(cache: AnswerCache) -> None:
    """A shared database outlives the run: a previous run's stress rows must not count."""
    from sqlalchemy import create_engine, text

    assert isinstance(cache.where, str)
    engine = create_engine(_psycopg(cache.where))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM longread_answers.answers WHERE kind = 'stress'"))
    engine.dispose()


def _present(where: Path | str) -> tuple[set[str], str]:
    """The stress keys in the database, and its integrity verdict (SQLite's integrity_check)."""
    query = "SELECT key FROM {}answers WHERE kind = 'stress'"
    if isinstance(where, str):
        from sqlalchemy import create_engine, text

        engine = create_engine(_psycopg(where))
        with engine.connect() as conn:
            keys = {key for (key,) in conn.execute(text(query.format("longread_answers.")))}
        engine.dispose()
        return keys, "n/a"  # SQLite's check; PostgreSQL has no equivalent to run here
    with sqlite3.connect(where) as sqlite:
        keys = {key for (key,) in sqlite.execute(query.format(""))}
        return keys, sqlite.execute("PRAGMA integrity_check").fetchone()[0]


def _psycopg(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def _figures(
    where: Path | str, reports: list[dict[str, Any]], elapsed: float
) -> dict[str, Any]:
    present, integrity = _present(where)
    expected = {f"stress-{r['writer']}-{n}" for r in reports for n in range(r["written"])}
    written = sum(r["written"] for r in reports)
    return {
        "database": "postgresql" if isinstance(where, str) else "sqlite",
        "processes": len(reports),
        "seconds": round(elapsed, 2),
        "rows_written": written,
        "rows_present": len(present),
        "rows_lost": len(expected - present),
        "writes_per_second": round(written / elapsed, 1),
        "errors": sum(r["errors"] for r in reports),
        "read_mismatches": sum(r["mismatches"] for r in reports),
        "first_error": next((r["first_error"] for r in reports if r["first_error"]), ""),
        "integrity_check": integrity,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--jobs", type=int, default=0,
                        help="rows per process, instead of writing for --seconds")
    parser.add_argument("--path", type=Path, help="cache file (default: a fresh temp file)")
    parser.add_argument("--cache-url", help="a postgresql:// database to race on instead")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        figures = run(
            args.cache_url or args.path or Path(scratch) / "answers.sqlite",
            processes=args.processes,
            seconds=args.seconds,
            jobs=args.jobs,
        )
    if args.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print(f"{name:>18}: {value}")
    sound = figures["rows_lost"] == 0 and figures["errors"] == 0
    return 0 if sound and figures["integrity_check"] in ("ok", "n/a") else 1


if __name__ == "__main__":
    sys.exit(main())
