"""`longread ask` on this machine with the embedded CPU model: prefix cache, batching, cache hits.

Over one ~6k-token corpus (a git repo of generated Python modules, made in a temp dir):

1. one process, one engine: the first question (prefills the corpus) vs the next four asked in one
   batch and a later question asked alone — all served the corpus from vLLM's prefix cache;
2. five questions in one `longread ask` invocation vs five separate invocations (answer cache off);
3. a cache-hit `longread ask` (the same command again): wall time of the whole process.

    .venv/bin/python benchmarks/bench_ask.py [--json] [--hits 5]
    .venv/bin/python benchmarks/bench_ask.py --hits-only   # part 3 alone, on examples/notes-app
    .venv/bin/python benchmarks/bench_ask.py --hits-only --reuse-cache DIR  # fill DIR once, then
        # time hits only (no engine start on later runs: before/after comparisons on a shared box)

Targets (issue 3): later questions >= 8x faster than the first; a cache hit < 0.5 s wall.
Child processes run without PYTHONDONTWRITEBYTECODE so their imports come from .pyc, as a user's do.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LONGREAD = Path(sys.executable).with_name("longread")
FILES = 7  # ~850 SmolLM2 tokens each: a ~6k-token pack
QUESTIONS = [
    "What is ZEBRA set to? Cite the line.",
    "Which function returns value * 7 + 2?",
    "How many modules are there?",
    "What does scale_3_4 return?",
    "Which file defines ZEBRA?",
    "What does scale_5_9 return?",
]
MAX_TOKENS = "32"
NOTES_APP = Path(__file__).resolve().parents[1] / "examples" / "notes-app"


def make_repo(root: Path, files: int = FILES) -> Path:
    """A git repository of `files` generated modules (~850 tokens each); m03.py defines ZEBRA."""
    repo = root / "corpus"
    (repo / "src").mkdir(parents=True)
    for i in range(files):
        body = [f"def scale_{i}_{j}(value):\n    return value * {j} + {i}\n" for j in range(30)]
        if i == 3:
            body[15] = "ZEBRA = 'the mascot lives here'\n"
        (repo / "src" / f"m{i:02}.py").write_text("".join(body), encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    return repo


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS", "3000")  # a loaded CI box prefills slowly
    return env


def cache_dir(scratch: Path, name: str, models: Path) -> Path:
    """A fresh longread cache dir that shares the already-pulled model directory."""
    path = scratch / name
    path.mkdir()
    (path / "models").symlink_to(models)
    return path


def longread(cache: Path, *args: str) -> float:
    """Wall seconds of one `longread ask` process (fails loudly)."""
    command = [str(LONGREAD), "--cache-dir", str(cache), "ask", *args, "--max-tokens", MAX_TOKENS]
    started = time.perf_counter()
    done = subprocess.run(command, env=child_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def in_process(repo: Path, models: Path) -> dict[str, Any]:
    """Part 1: first question vs later ones over one engine (library calls, no answer cache)."""
    from longread.engine.answer import answer_questions
    from longread.engine.backend import SamplingSettings
    from longread.engine.vllm_backend import VllmBackend
    from longread.ingest.corpus import read_corpus
    from longread.ingest.corpus_spec import CorpusSpec
    from longread.ingest.pack import build_pack

    os.environ.setdefault("VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS", "3000")
    backend = VllmBackend(model="smollm2", models_dir=models)
    try:
        pack = build_pack(
            read_corpus(CorpusSpec.of([repo])).documents, counter=backend.tokenizer,
            line_numbers=True,
        )
        sampling = SamplingSettings(max_tokens=int(MAX_TOKENS))
        [first] = answer_questions(pack, QUESTIONS[:1], backend, sampling=sampling)
        started = time.perf_counter()
        batch = answer_questions(pack, QUESTIONS[1:5], backend, sampling=sampling)
        batch_wall = time.perf_counter() - started
        [alone] = answer_questions(pack, QUESTIONS[5:], backend, sampling=sampling)
    finally:
        backend.close()
    return {
        "pack_tokens": pack.tokens,
        "first": {"seconds": first.seconds, "cached_tokens": first.cached_tokens},
        "later_alone": {"seconds": alone.seconds, "cached_tokens": alone.cached_tokens},
        "later_batch_of_4": {
            "wall": batch_wall,
            "per_question": batch_wall / 4,
            "cached_tokens": [a.cached_tokens for a in batch],
        },
        "speedup_alone": first.seconds / alone.seconds,
        "speedup_batched": first.seconds / (batch_wall / 4),
    }


def invocations(repo: Path, scratch: Path, models: Path) -> dict[str, float]:
    """Part 2: five questions in one process vs five processes (answer cache off)."""
    flags = [arg for question in QUESTIONS[:5] for arg in ("-q", question)]
    one = longread(cache_dir(scratch, "one", models), str(repo), *flags, "--no-cache")
    separate_cache = cache_dir(scratch, "separate", models)
    separate = [longread(separate_cache, str(repo), q, "--no-cache") for q in QUESTIONS[:5]]
    return {"one_invocation": one, "five_invocations": sum(separate), "ratio": sum(separate) / one}


def cache_hits(
    repo: Path, scratch: Path, models: Path, repeats: int, reuse: Path | None = None
) -> dict[str, Any]:
    """Part 3: the same `longread ask` again, answered from the cache (first run fills it; with
    `reuse`, a cache dir kept between runs, only the first run ever fills it)."""
    if reuse is None:
        cache = cache_dir(scratch, "hits", models)
    else:
        cache = reuse
        if not cache.exists():
            cache.mkdir(parents=True)
            (cache / "models").symlink_to(models)
    fill = longread(cache, str(repo), QUESTIONS[0])
    hits, loads = [], []
    for _ in range(repeats):
        loads.append(float(Path("/proc/loadavg").read_text().split()[0]))
        hits.append(longread(cache, str(repo), QUESTIONS[0]))
    return {"fill": fill, "hits": hits, "median": statistics.median(hits), "min": min(hits),
            "load1": loads}


def pulled_models() -> Path:
    from longread.analysis.config import default_cache_dir
    from longread.engine.models import ensure_default_model

    models = default_cache_dir(os.environ) / "models"
    ensure_default_model(models)
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    parser.add_argument("--hits", type=int, default=5, help="Cache-hit runs to time.")
    parser.add_argument("--hits-only", action="store_true",
                        help="Only part 3, on examples/notes-app (the small corpus of issue 10).")
    parser.add_argument("--reuse-cache", type=Path, metavar="DIR",
                        help="With --hits-only: keep the answer cache in DIR across runs.")
    options = parser.parse_args()
    models = pulled_models()
    with tempfile.TemporaryDirectory(prefix="bench-ask-") as tmp:
        scratch = Path(tmp)
        if options.hits_only:
            figures = {"cache_hit": cache_hits(
                NOTES_APP, scratch, models, options.hits, options.reuse_cache
            )}
            print(json.dumps(figures, indent=2))
            return
        repo = make_repo(scratch)
        figures = {
            "cache_hit": cache_hits(repo, scratch, models, options.hits),
            "in_process": in_process(repo, models),
            "invocations": invocations(repo, scratch, models),
        }
    print(json.dumps(figures, indent=2) if options.json else summary(figures))


def summary(figures: dict[str, Any]) -> str:
    part1, part2, part3 = figures["in_process"], figures["invocations"], figures["cache_hit"]
    alone = part1["later_alone"]
    return "\n".join(
        [
            f"corpus: {part1['pack_tokens']} tokens (SmolLM2 tokenizer), max_tokens {MAX_TOKENS}",
            f"first question: {part1['first']['seconds']:.1f} s",
            f"later question alone: {alone['seconds']:.1f} s "
            f"({alone['cached_tokens']} tokens cached) -> {part1['speedup_alone']:.1f}x",
            f"later questions, batch of 4: {part1['later_batch_of_4']['per_question']:.1f} s each "
            f"-> {part1['speedup_batched']:.1f}x",
            f"5 questions: one invocation {part2['one_invocation']:.1f} s, five invocations "
            f"{part2['five_invocations']:.1f} s ({part2['ratio']:.1f}x)",
            f"cache-hit ask: median {part3['median']:.2f} s, min {part3['min']:.2f} s "
            f"(first run {part3['fill']:.1f} s)",
        ]
    )


if __name__ == "__main__":
    main()
