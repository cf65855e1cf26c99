"""Speed at scale: a `--budget --query` pack of a ~10M-token folder on a warm cache (issue 18).

The folder holds the HEAD trees of the git directories given (`git archive`, one subfolder each,
kept under --work), e.g. sqlalchemy + ansible + celery: 10.4M cl100k tokens of UTF-8 text. The
real CLI packs it once to warm its cache, then --runs more times; each warm run's wall clock is
printed, with the corpus size (every UTF-8 text file's cl100k tokens, counted once and kept).

    .venv/bin/python benchmarks/bench_scale.py GIT_DIR... [--budget 128000] [--query Q]
        [--runs 3] [--work benchmarks/.work/scale] [--profile]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LONGREAD = Path(sys.executable).with_name("longread")
QUERY = (
    "Session.execute() raises KeyError when a task's include_vars result is cached\n\n"
    "Traceback (most recent call last):\n"
    '  File "/usr/lib/python3/site-packages/sqlalchemy/orm/session.py", line 2308, in execute\n'
    "KeyError: 'ansible_facts'"
)


def build_folder(git_dirs: list[Path], work: Path) -> Path:
    """One subfolder per repository, holding its HEAD tree (kept across runs)."""
    folder = work / "corpus"
    for git_dir in git_dirs:
        name = (git_dir.parent.name if git_dir.name in ("repo", ".git") else git_dir.name)
        target = folder / name
        if not target.is_dir():
            partial = folder / (name + ".partial")
            subprocess.run(["rm", "-rf", str(partial)], check=True)
            partial.mkdir(parents=True)
            archive = subprocess.run(
                ["git", "--git-dir", str(git_dir), "archive", "HEAD"],
                check=True, capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
            partial.rename(target)
    return folder


def corpus_tokens(folder: Path, work: Path) -> int:
    """cl100k tokens of every UTF-8 text file under `folder` (counted once, kept in --work)."""
    kept = work / "tokens.json"
    names = sorted(p.name for p in folder.iterdir())
    if kept.is_file() and json.loads(kept.read_text())["repos"] == names:
        return int(json.loads(kept.read_text())["tokens"])
    from longread.ingest.tokens import TiktokenCounter

    texts = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if b"\0" not in data:
                try:
                    texts.append(data.decode("utf-8"))
                except UnicodeDecodeError:
                    continue
    tokens = sum(TiktokenCounter().count_many(texts))
    kept.write_text(json.dumps({"repos": names, "tokens": tokens}))
    return tokens


def pack_seconds(folder: Path, work: Path, budget: int, query: str, profile: bool) -> float:
    """Wall clock of one real `longread pack` process."""
    command = [str(LONGREAD), "--cache-dir", str(work / "cache"), "pack", str(folder)]
    command += ["--budget", str(budget), "--query", query, "--json", "-o", str(work / "pack.out")]
    if profile:
        command = [sys.executable, "-m", "cProfile", "-o", str(work / "pack.prof"), *command]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repos", type=Path, nargs="+", help="git directories")
    parser.add_argument("--budget", type=int, default=128_000)
    parser.add_argument("--query", default=QUERY)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=HERE / ".work" / "scale")
    parser.add_argument("--profile", action="store_true", help="cProfile the last run.")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    folder = build_folder(args.repos, args.work)
    tokens = corpus_tokens(folder, args.work)
    cold = pack_seconds(folder, args.work, args.budget, args.query, profile=False)
    warm = [
        pack_seconds(folder, args.work, args.budget, args.query,
                     profile=args.profile and run == args.runs - 1)
        for run in range(args.runs)
    ]
    print(f"{tokens / 1e6:.2f}M cl100k tokens in {folder}; budget {args.budget}")
    print(f"first run (cache as found): {cold:.2f} s; warm runs: "
          + ", ".join(f"{s:.2f} s" for s in warm))


if __name__ == "__main__":
    main()
