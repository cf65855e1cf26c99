"""Many processes writing one answer cache at once: rows lost? writers failing? the file sound?

    python benchmarks/cache_stress.py --processes 8 --seconds 30 [--path FILE] [--json]

Each writer puts rows with keys it can name later ("stress-<writer>-<n>") and reads back a few
of its own as it goes; at the end the parent checks that every row a writer committed is there
and runs `PRAGMA integrity_check`. The test suite runs it briefly; the 30 s figure comes from here.
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


def _writer(path: str, writer: int, seconds: float, results: Any) -> None:
    written, errors, mismatches, first_error = 0, 0, 0, ""
    deadline = time.monotonic() + seconds
    with AnswerCache(Path(path)) as cache:
        while time.monotonic() < deadline:
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


def run(path: Path, *, processes: int, seconds: float) -> dict[str, Any]:
    """Run the writers against `path` and return the figures (rows written, lost, errors, ...)."""
    AnswerCache(path).close()  # create and migrate once, before the race
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=_writer, args=(str(path), n, seconds, results))
        for n in range(processes)
    ]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=seconds + 120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    elapsed = time.monotonic() - started
    return _figures(path, reports, elapsed)


def _figures(path: Path, reports: list[dict[str, Any]], elapsed: float) -> dict[str, Any]:
    with sqlite3.connect(path) as conn:
        present = {key for (key,) in conn.execute("SELECT key FROM answers WHERE kind = 'stress'")}
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    expected = {f"stress-{r['writer']}-{n}" for r in reports for n in range(r["written"])}
    written = sum(r["written"] for r in reports)
    return {
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
    parser.add_argument("--path", type=Path, help="cache file (default: a fresh temp file)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        figures = run(
            args.path or Path(scratch) / "answers.sqlite",
            processes=args.processes,
            seconds=args.seconds,
        )
    if args.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print(f"{name:>18}: {value}")
    sound = figures["rows_lost"] == 0 and figures["errors"] == 0
    return 0 if sound and figures["integrity_check"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
