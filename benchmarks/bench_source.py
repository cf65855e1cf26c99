"""`longread serve`'s GET /api/source on a real corpus: what following one citation costs.

Starts `longread serve CORPUS` (a fresh cache dir; /api/source never starts an engine), asks for
the first lines of one document once (a cold cache: every file read, hashed, scanned), then N more
times (warm), then once more after touching another file of the corpus (one file changed), and
prints the wall time of each kind of request.

    .venv/bin/python benchmarks/bench_source.py CORPUS PATH [-n 5] [--json]

For example, rich 13.9.4's sdist (`pip download --no-deps --no-binary :all: rich==13.9.4`,
untarred) and `rich/console.py`, or sympy 1.14.0's and `sympy/core/basic.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

LONGREAD = Path(sys.executable).with_name("longread")


def start_server(corpus: Path, cache: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`longread serve` on a port that was free a moment ago; requests retry until it answers."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    command = [str(LONGREAD), "--cache-dir", str(cache), "serve", str(corpus), "--port", str(port)]
    return subprocess.Popen(command, stderr=subprocess.DEVNULL), f"http://127.0.0.1:{port}/"


def wait_ready(url: str) -> None:
    """Until serve answers: a path with '..' is refused before any file is read."""
    for _ in range(600):
        try:
            httpx.get(url + "api/source", params={"path": "../ready"}, timeout=30)
            return
        except httpx.ConnectError:
            time.sleep(0.05)
    raise SystemExit(f"nothing answered at {url} in 30 s")


def timed_get(url: str, path: str) -> float:
    """Seconds for one GET /api/source of lines 1-20 of `path`."""
    start = time.perf_counter()
    response = httpx.get(url + "api/source", params={"path": path, "start": 1, "end": 20},
                         timeout=600)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed


def other_file(corpus: Path, path: str) -> Path:
    """A file of the corpus other than `path`, to touch (a change the next request must see)."""
    for candidate in sorted(corpus.rglob("*.py")):
        if candidate.relative_to(corpus).as_posix() != path:
            return candidate
    raise SystemExit(f"no other .py file under {corpus}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("path", help="a document of the corpus, as cited (e.g. rich/console.py)")
    parser.add_argument("-n", type=int, default=5, help="warm requests (default 5)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        process, url = start_server(args.corpus, Path(cache))
        try:
            wait_ready(url)
            cold = timed_get(url, args.path)
            warm = [timed_get(url, args.path) for _ in range(args.n)]
            os.utime(other_file(args.corpus, args.path))
            changed = timed_get(url, args.path)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(60)
    result = {"corpus": str(args.corpus), "path": args.path, "cold_s": round(cold, 3),
              "warm_median_s": round(statistics.median(warm), 3),
              "warm_s": [round(w, 3) for w in warm], "after_one_change_s": round(changed, 3)}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.corpus}: GET /api/source?path={args.path}")
    print(f"  cold (fresh cache)      {cold:7.3f} s")
    print(f"  warm median of {args.n:<3}     {statistics.median(warm):7.3f} s")
    print(f"  after touching one file {changed:7.3f} s")


if __name__ == "__main__":
    main()
