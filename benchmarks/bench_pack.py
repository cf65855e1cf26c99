"""`longread pack` against Repomix on the sympy 1.14.0 source, cold and warm, side by side.

Both tools pack the same copy of the tree (outside any git repository, so no parent .gitignore
hides it), write their output outside the corpus, and run interleaved so they share the
machine's conditions. Cold: longread with a fresh ingest cache, Repomix with a fresh token-count
cache (REPOMIX_TOKEN_CACHE_PATH). Warm: the same run again. longread packs without a budget
(every document in full, exact cl100k counts); Repomix with its default output.

    .venv/bin/python benchmarks/bench_pack.py [--repeat 3] [--json]

Targets (issue 2): longread cold <= Repomix cold; longread warm <= 1/3 of Repomix warm.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
LONGREAD = Path(sys.executable).with_name("longread")


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float  # user + sys of the child, its threads and every descendant (see adopt_orphans)


def conditions(repomix: Path) -> dict[str, str]:
    """What a reader needs to judge the figures: the code measured, the tools, the machine."""
    def output(*command: str) -> str:
        done = subprocess.run(command, capture_output=True, text=True, cwd=HERE)
        return done.stdout.strip() or "?"

    dirty = output("git", "status", "--porcelain", "--untracked-files=no", "--", "..")
    return {
        "longread": output("git", "rev-parse", "--short", "HEAD")
        + (" (uncommitted changes)" if dirty not in ("", "?") else ""),
        "repomix": output(str(repomix), "--version"),
        "node": output("node", "--version"),
        "cores": str(os.cpu_count()),
        "load": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def adopt_orphans() -> None:
    """Become the parent of every orphaned descendant (Linux), so the CPU of a worker pool's
    server, which outlives the run that started it, is counted when it is reaped."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def reap(timeout: float = 10.0) -> None:
    """Wait for the orphans a run left (a pool server exits once its parent is gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)


def timed(command: list[str], *, env: dict[str, str], cwd: Path) -> Timing:
    """Run `command`, failing loudly, and measure its wall clock and CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    reap()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu)


def one_round(tree: Path, scratch: Path, repomix: Path, index: int) -> dict[str, Timing]:
    """longread cold, Repomix cold, longread warm, Repomix warm: one interleaved round."""
    cache_dir = scratch / f"longread-cache-{index}"
    token_cache = scratch / f"repomix-cache-{index}" / "token-counts.json"
    longread = [str(LONGREAD), "--cache-dir", str(cache_dir), "pack", str(tree)]
    longread += [
        "-o",
        str(scratch / "longread-pack.xml"),
        "--manifest",
        str(scratch / "manifest.json"),
    ]
    repomix_cmd = [str(repomix), str(tree), "-o", str(scratch / "repomix-output.xml"), "--quiet"]
    env = {**os.environ, "REPOMIX_TOKEN_CACHE_PATH": str(token_cache)}
    results = {}
    for mode in ("cold", "warm"):
        results[f"longread {mode}"] = timed(longread, env=env, cwd=scratch)
        results[f"repomix {mode}"] = timed(repomix_cmd, env=env, cwd=scratch)
    return results


def summarize(rounds: list[dict[str, Timing]]) -> dict[str, dict[str, float]]:
    names = rounds[0].keys()
    return {
        name: {
            "wall_median": statistics.median(r[name].wall for r in rounds),
            "wall_min": min(r[name].wall for r in rounds),
            "cpu_median": statistics.median(r[name].cpu for r in rounds),
        }
        for name in names
    }


def ratios(summary: dict[str, dict[str, float]]) -> dict[str, float]:
    out = {}
    for mode in ("cold", "warm"):
        for figure in ("wall_median", "wall_min", "cpu_median"):
            mine, theirs = summary[f"longread {mode}"][figure], summary[f"repomix {mode}"][figure]
            out[f"{mode} {figure}"] = mine / theirs
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sympy", type=Path, default=WORK / "sympy-1.14.0")
    parser.add_argument("--repomix", type=Path, default=WORK / "node_modules" / ".bin" / "repomix")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args()
    for needed in (args.sympy, args.repomix, LONGREAD):
        if not needed.exists():
            raise SystemExit(f"missing {needed} (see the docstring for how to get it)")
    before = conditions(args.repomix)
    adopt_orphans()
    with tempfile.TemporaryDirectory(prefix="longread-bench-") as scratch_name:
        scratch = Path(scratch_name)
        tree = scratch / "sympy-1.14.0"
        shutil.copytree(args.sympy, tree, symlinks=True)
        rounds = [one_round(tree, scratch, args.repomix, i) for i in range(args.repeat)]
        manifest_tokens = json.loads((scratch / "manifest.json").read_text())["tokens"]
        recount = _recount(scratch / "longread-pack.xml")
    summary = summarize(rounds)
    load_after = " ".join(f"{value:.2f}" for value in os.getloadavg())
    report = {"repeat": args.repeat, "longread_pack_tokens": manifest_tokens, "recount": recount}
    report |= {"conditions": before | {"load_after": load_after}}
    report |= {"timings": summary, "ratios": ratios(summary)}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"sympy 1.14.0, {args.repeat} interleaved rounds; longread pack: manifest"
        f" {manifest_tokens:,} tokens, recount {recount:,}"
    )
    print("  " + ", ".join(f"{key} {value}" for key, value in report["conditions"].items()))
    print("  cpu: user+sys of each run, its threads and every process it started")
    for name, figures in summary.items():
        line = ", ".join(f"{key} {value:6.2f}s" for key, value in figures.items())
        print(f"  {name:15} {line}")
    for name, value in report["ratios"].items():
        print(f"  longread/repomix {name:17} {value:5.2f}")


def _recount(pack: Path) -> int:
    from longread.ingest.tokens import TiktokenCounter

    return TiktokenCounter().count(pack.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
