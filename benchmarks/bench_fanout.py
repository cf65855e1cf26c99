"""Fan-out to a served model: how long a 24-shard map takes with N requests in flight.

A stand-in OpenAI-compatible server on 127.0.0.1 takes 1 s per chat request (as a loaded vLLM
server would, at any concurrency). The map goes through longread's own path — `map_reduce` with
the openai backend and a fresh answer cache — at each N; expect about 24/N s for the map, plus
1 s for the one reduce.

    .venv/bin/python benchmarks/bench_fanout.py [--shards 24] [--concurrency 1 4 16] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from longread.engine.answer_cache import AnswerCache
from longread.engine.backend import SamplingSettings
from longread.engine.mapreduce import map_reduce
from longread.engine.openai_backend import OpenAIBackend
from longread.ingest.document import Document, Section
from longread.ingest.pack import Pack, build_pack
from longread.ingest.tokens import TiktokenCounter

SECONDS_PER_REQUEST = 1.0
MODEL = "stand-in"
QUESTION = "Where is the zebra?"


class StandIn(BaseHTTPRequestHandler):
    """/v1/models, /tokenize, and chat completions that each take SECONDS_PER_REQUEST."""

    def do_GET(self) -> None:
        self._json({"data": [{"id": MODEL, "max_model_len": 8192}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/tokenize":
            text = body.get("prompt") or " ".join(m["content"] for m in body["messages"])
            self._json({"count": len(text) // 4 + 1})
            return
        time.sleep(SECONDS_PER_REQUEST)
        self._json({"choices": [{"message": {"content": "This part names the zebra."},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 6}})

    def _json(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def shards(count: int) -> list[Pack]:
    """One small pack per shard, as `shard_pack` would cut a larger corpus."""
    counter = TiktokenCounter()
    packs = []
    for n in range(count):
        text = f"# part {n}\nThe zebra of part {n} lives in room {n * 7}.\n"
        document = Document(f"docs/part{n:02}.md", "text", f"sha{n}", len(text), (Section(text),))
        packs.append(build_pack([document], counter=counter))
    return packs


def run(url: str, parts: list[Pack], concurrency: int) -> dict[str, float]:
    """Wall seconds of the map (every shard answered) and of the whole map-reduce."""
    backend = OpenAIBackend(base_url=url, model=MODEL, concurrency=concurrency)
    mapped_at: list[float] = []

    def progress(stage: str, done: int, total: int | None) -> None:
        if stage == "shards" and done == total and not mapped_at:
            mapped_at.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as folder, AnswerCache(Path(folder) / "a.sqlite") as cache:
        started = time.perf_counter()
        map_reduce(parts, QUESTION, backend, cache=cache,
                   sampling=SamplingSettings(max_tokens=32), progress=progress)
        finished = time.perf_counter()
    backend.close()
    return {"concurrency": concurrency, "map_s": round(mapped_at[0] - started, 2),
            "total_s": round(finished - started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shards", type=int, default=24)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    parts = shards(options.shards)
    rows = [run(url, parts, n) for n in options.concurrency]
    server.shutdown()
    if options.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{options.shards}-shard map, {SECONDS_PER_REQUEST:g} s per request at the server:")
    for row in rows:
        ideal = -(-options.shards // row["concurrency"]) * SECONDS_PER_REQUEST
        print(f"  N = {row['concurrency']:>2}: map {row['map_s']:6.2f} s (ideal {ideal:g} s), "
              f"map + reduce {row['total_s']:6.2f} s")


if __name__ == "__main__":
    main()
