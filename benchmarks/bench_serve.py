"""`longread serve` on the embedded vLLM CPU engine: is the second question from the page served
from the engine's prefix cache?

Starts `longread serve examples/notes-app` (a fresh answer cache; the pulled model directory is
shared), asks two different questions through POST /api/ask, one after the other, as the page
does, and prints each answer's prompt tokens, the tokens vLLM served from its prefix cache, and the
wall time of the request. The first request also starts the engine.

    VLLM_CPU_KVCACHE_SPACE=2 .venv/bin/python benchmarks/bench_serve.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

LONGREAD = Path(sys.executable).with_name("longread")
NOTES_APP = Path(__file__).resolve().parents[1] / "examples" / "notes-app"
QUESTIONS = ["Where are the notes stored?", "How does search rank the notes?"]
MAX_TOKENS = "48"


def models_dir() -> Path:
    """The folder of the pulled embedded model (`longread models path` names the model in it)."""
    found = subprocess.run([str(LONGREAD), "models", "path"], capture_output=True, text=True,
                           check=True)
    return Path(found.stdout.strip()).parent


def start_server(cache: Path) -> tuple[subprocess.Popen[str], str]:
    """`longread serve` on a free port; its URL from the line it prints (stderr then drained)."""
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2")}
    command = [str(LONGREAD), "--cache-dir", str(cache), "serve", str(NOTES_APP), "--port", "0",
               "--max-tokens", MAX_TOKENS]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if match := re.search(r"at (http://\S+/) ", line):
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, match.group(1)
    raise SystemExit("longread serve did not start:\n" + "".join(seen)[-2000:])


def stop(process: subprocess.Popen[str]) -> None:
    """Ctrl-C, as a user stops it; killed if the engine does not shut down in a minute."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()


def ask(url: str, question: str) -> dict[str, Any]:
    """One question through the JSON API, as the page sends it; its usage and wall time."""
    started = time.perf_counter()
    for _ in range(200):  # the URL is printed just before uvicorn accepts
        try:
            response = httpx.post(url + "api/ask", json={"question": question}, timeout=3000)
            break
        except httpx.ConnectError:
            time.sleep(0.05)
    else:
        raise SystemExit(f"nothing answered at {url}")
    if response.status_code != 200:
        raise SystemExit(f"POST /api/ask: {response.status_code} {response.text}")
    [answer] = response.json()["answers"]
    return {"question": question, "prompt_tokens": answer["prompt_tokens"],
            "cached_tokens": answer["cached_tokens"], "from_cache": answer["from_cache"],
            "wall_s": round(time.perf_counter() - started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="Print the rows as JSON.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch) / "cache"
        cache.mkdir()
        (cache / "models").symlink_to(models_dir())
        process, url = start_server(cache)
        try:
            rows = [ask(url, question) for question in QUESTIONS]
        finally:
            stop(process)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"longread serve {NOTES_APP.name}, embedded vLLM CPU engine, --max-tokens {MAX_TOKENS}")
    for n, row in enumerate(rows, 1):
        print(f"question {n}: {row['prompt_tokens']} prompt tokens, {row['cached_tokens']} "
              f"cached, {row['wall_s']} s wall{' (answer cache)' if row['from_cache'] else ''}"
              f"  — {row['question']}")


if __name__ == "__main__":
    main()
