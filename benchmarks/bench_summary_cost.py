"""What `longread summarize` sends to a model for a 1,000-document set, and how long it takes.

The set (Markdown notes and small PDFs) and a stand-in OpenAI-compatible server come from
tests/summary_standin.py: 4 characters a token, an 8,192-token window, answers held to
--max-tokens, `--delay` seconds per request. Reported: the corpus tokens (every document's text),
the prompt tokens the server was sent for the map and for every reduce level, their ratio to the
corpus text and to the pack (the same documents with the ids and line numbers they are cited by),
the rows of the coverage table, and the wall time at each --concurrency (fresh caches every run;
the whole command, and the part from the first request to the last answer).

    .venv/bin/python benchmarks/bench_summary_cost.py [--documents 1000] [--concurrency 1 8]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

from click.testing import CliRunner  # noqa: E402

from longread.analysis.cli.commands import cli  # noqa: E402
from tests.faultserver import FaultServer  # noqa: E402
from tests.summary_standin import MODEL, SummaryServer, make_corpus, tokens  # noqa: E402


def run(documents: int, concurrency: int, delay: float, window: int, lines: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, FaultServer() as server:
        stand_in = SummaryServer(server, window=window, delay=delay)
        root = Path(folder) / "docs"
        texts = make_corpus(root, documents, scale=lines)
        corpus = tokens("\n".join(texts.values()))
        started = time.perf_counter()
        result = CliRunner().invoke(cli, [
            "--cache-dir", str(Path(folder) / "cache"), "summarize", str(root), "--json",
            "--backend", "openai", "--base-url", server.url, "--model", MODEL,
            "--max-tokens", "512", "--concurrency", str(concurrency)])
        seconds = time.perf_counter() - started
    if result.exit_code != 0:
        sys.exit(result.output)
    data = json.loads(result.stdout)
    sent = stand_in.prompt_tokens
    return {"documents": documents, "concurrency": concurrency, "corpus_tokens": corpus,
            "pack_tokens": data["pack"]["tokens"], "map_requests": stand_in.requests["map"],
            "reduce_requests": stand_in.requests["reduce"], "map_tokens": sent["map"],
            "reduce_tokens": sent["reduce"],
            "ratio": round((sent["map"] + sent["reduce"]) / corpus, 4),
            "ratio_to_pack": round((sent["map"] + sent["reduce"]) / data["pack"]["tokens"], 4),
            "model_seconds": round(stand_in.last_at - stand_in.first_at, 1),
            "coverage_rows": len(data["coverage"]), "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--delay", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--window", type=int, default=8192)
    parser.add_argument("--lines", type=int, default=1, help="document length (x 6-14 lines)")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    rows = [run(options.documents, n, options.delay, options.window, options.lines)
            for n in options.concurrency]
    if options.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        print(f"{row['documents']} documents, {row['corpus_tokens']:,} corpus tokens "
              f"(pack {row['pack_tokens']:,}): sent {row['map_tokens']:,} in "
              f"{row['map_requests']} maps + {row['reduce_tokens']:,} in {row['reduce_requests']} "
              f"reduces = {row['ratio']:.3f}x the corpus text "
              f"({row['ratio_to_pack']:.3f}x the pack); "
              f"{row['coverage_rows']} coverage rows; concurrency {row['concurrency']}: "
              f"{row['seconds']} s ({row['model_seconds']} s from first request to last answer)")


if __name__ == "__main__":
    main()
