"""CPU prefill: longread's first question vs plain vLLM `LLM.chat` on the same ~4k-token prompt.

The corpus is packed once (bench_ask's generated modules) and turned into longread's own answer
messages; every plain-vLLM configuration chats exactly those messages (the recipe in
../shared/recipes/vllm-cpu.md plus one change each), and longread answers them through
`longread ask --no-cache --max-tokens 1 --json`. Each run is its own process with a fresh engine
(no prefix cache), one at a time; rounds interleave configurations, and each figure carries the
1-minute load average read just before it (the machine is shared).

    .venv/bin/python benchmarks/bench_prefill.py [--rounds 1] [--only NAME ...] [--json]

Prefill tok/s = prompt tokens / (queued -> first token) seconds with max_tokens=1.
Target (issue 10): longread within 1.2x of the best plain-vLLM configuration.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ask import LONGREAD, cache_dir, child_env, make_repo, pulled_models  # noqa: E402

FILES = 5  # ~850 tokens each: a ~4k-token prompt
QUESTION = "What is ZEBRA set to? Cite the line."
RECIPE: dict[str, Any] = {"dtype": "bfloat16", "env": {}}  # the shared recipe, as written
CONFIGS: dict[str, dict[str, Any]] = {
    "recipe (bf16)": RECIPE,
    "bf16, reserved cpu 0": {"dtype": "bfloat16", "env": {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}},
    "fp32": {"dtype": "float32", "env": {}},
    "fp32, reserved cpu 0": {"dtype": "float32", "env": {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}},
    "bf16, reserved 0, batched 8192": {
        "dtype": "bfloat16", "env": {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"},
        "max_num_batched_tokens": 8192,
    },
    "bf16, reserved 0, no chunked prefill": {
        "dtype": "bfloat16", "env": {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"},
        "enable_chunked_prefill": False, "max_num_batched_tokens": 8192,
    },
}
LONGREAD_NAME = "longread ask (auto dtype)"
RESULT = "bench-prefill: "  # marks the child's figures (vLLM logs to stdout too)


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def build_messages(repo: Path, models: Path, out: Path) -> int:
    """longread's own answer messages for QUESTION over `repo` (as `ask` builds them)."""
    from longread.analysis.config import load_settings
    from longread.analysis.jobs.pack import read_and_pack
    from longread.engine.prompt import answer_messages
    from longread.ingest.tokens import HuggingFaceCounter

    settings = load_settings({"cache_dir": str(out.parent / "pack-cache")})
    counter = HuggingFaceCounter(models / "smollm2-135m-instruct" / "tokenizer.json",
                                 name="hf:smollm2")
    packed = read_and_pack(settings, [repo], counter=counter, query=QUESTION, line_numbers=True)
    messages = answer_messages(packed.pack.text, QUESTION)
    out.write_text(json.dumps([{"role": m.role, "content": m.content} for m in messages]))
    return packed.pack.tokens


def plain_child(config_json: str, messages_file: str, model_dir: str) -> None:
    """One plain-vLLM engine: chat the messages once with max_tokens=1 and print its figures."""
    config = json.loads(config_json)
    from vllm import LLM, SamplingParams

    extra = {k: config[k] for k in ("max_num_batched_tokens", "enable_chunked_prefill")
             if k in config}
    started = time.perf_counter()
    llm = LLM(model=model_dir, max_model_len=8192, enable_prefix_caching=True,
              dtype=config["dtype"], enforce_eager=True, disable_log_stats=False, **extra)
    start_s = time.perf_counter() - started
    messages = json.loads(Path(messages_file).read_text())
    began = time.perf_counter()
    [out] = llm.chat(messages, SamplingParams(temperature=0, max_tokens=1), use_tqdm=False)
    wall = time.perf_counter() - began
    metrics = out.metrics
    seconds = (metrics.first_token_ts - metrics.queued_ts) if metrics else wall
    print(RESULT + json.dumps({"prompt_tokens": len(out.prompt_token_ids or ()), "seconds": seconds,
                      "start_s": start_s}))


def run_plain(name: str, messages: Path, models: Path) -> dict[str, Any]:
    config = CONFIGS[name]
    env = {**child_env(), "VLLM_CPU_KVCACHE_SPACE": "1", **config["env"]}
    command = [sys.executable, __file__, "--child", json.dumps(config), str(messages),
               str(models / "smollm2-135m-instruct")]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
    [line] = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    return dict(json.loads(line.removeprefix(RESULT)))


def run_longread(repo: Path, scratch: Path, models: Path) -> dict[str, Any]:
    cache = cache_dir(scratch, f"lr-{time.monotonic_ns()}", models)
    command = [str(LONGREAD), "--cache-dir", str(cache), "ask", str(repo), QUESTION,
               "--no-cache", "--max-tokens", "1", "--json"]
    done = subprocess.run(command, env=child_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"longread failed:\n{done.stderr[-2000:]}")
    [answer] = json.loads(done.stdout)["answers"]
    return {"prompt_tokens": answer["prompt_tokens"], "seconds": answer["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="Interleaved rounds.")
    parser.add_argument("--only", action="append", help="Run only these configurations.")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    options = parser.parse_args()
    names = options.only or [*CONFIGS, LONGREAD_NAME]
    models = pulled_models()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-prefill-") as tmp:
        scratch = Path(tmp)
        repo = make_repo(scratch, FILES)
        messages = scratch / "messages.json"
        pack_tokens = build_messages(repo, models, messages)
        for round_no in range(options.rounds):
            for name in names:
                load = load1()
                if name == LONGREAD_NAME:
                    figures = run_longread(repo, scratch, models)
                else:
                    figures = run_plain(name, messages, models)
                rate = figures["prompt_tokens"] / figures["seconds"]
                rows.append({"config": name, "round": round_no, "load1": load,
                             "tok_s": round(rate, 1), **figures})
                print(f"{name:<40} {figures['prompt_tokens']:>5} tok "
                      f"{figures['seconds']:7.1f} s {rate:7.1f} tok/s  load {load:.2f}",
                      file=sys.stderr, flush=True)
    print(json.dumps(rows, indent=2) if options.json else table(rows, pack_tokens))


def table(rows: list[dict[str, Any]], pack_tokens: int) -> str:
    lines = [f"pack {pack_tokens} tokens; prefill tok/s (prompt tokens / queued->first token)",
             "| configuration | prompt tokens | seconds | tok/s | load (1 min) |",
             "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['config']} | {row['prompt_tokens']} | {row['seconds']:.1f} | "
                     f"{row['tok_s']:.1f} | {row['load1']:.2f} |")
    plain = [row["tok_s"] for row in rows if row["config"] != LONGREAD_NAME]
    ours = [row["tok_s"] for row in rows if row["config"] == LONGREAD_NAME]
    if plain and ours:
        lines.append(f"best plain {max(plain):.1f} tok/s; longread {max(ours):.1f} tok/s "
                     f"-> {max(plain) / max(ours):.2f}x (target <= 1.2x)")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        plain_child(*sys.argv[2:5])
    else:
        main()
