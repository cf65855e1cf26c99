"""Recall at a budget: does the pack hold, in full, the files a real bug fix changed?

Cases are real bug-fix commits of public Python projects outside the twelve SWE-bench
repositories. Give the benchmark git directories (e.g. the mirrors `fetch` brings:
/work/.mirror/psf+black/repo), or a folder holding them; nothing of theirs is committed here.

Selection rule (deterministic, per repository, over `git log --no-merges` of HEAD, newest first):
  - the subject has the word fix/fixes/fixed/bug and none of typo, doc(s), docstring,
    documentation, example(s), annotation(s), comment(s), lint, ruff, mypy,
    flake8, test(s), ci, changelog, format(ting), spelling, readme, typing, release, version,
    pre-commit, workflow (those fix the project, not a bug a user meets);
  - the commit changes 1-4 source files (`.py`/`.pyi`, outside tests/test/testing/docs/doc/
    benchmarks/scripts/.github and any folder named *example*, not test_*.py, *_test.py,
    conftest.py, or a root setup.py/noxfile.py), and
    every one of them already exists in the parent (modified, not added, deleted or renamed);
  - a commit whose message repeats an earlier case's (a cherry-pick) is skipped;
  - after skipping the first --skip such commits (committed before --before, when given), the
    next --per-repo are the cases.
Hold-out protocol: cases 1-10 per repository (the default, `--skip 0 --per-repo 10`) are the
TUNING set, the 50 cases every ranking and fitting constant was tuned on; cases 11-20
(`--skip 10 --per-repo 10`) are the HELD-OUT set, run once, after tuning is frozen, and never
tuned on (`--skip 20`: a second held-out set, cases 21-30). The JSON output names the split of
every row.
Query = the commit message (subject and body, trailers like Co-authored-by dropped); the diff is
never shown. Gold = those source files. Corpus = the parent commit's tree (`git archive`, cached
under --work, one per parent).

Systems, at each budget (cl100k tokens):
  - longread: `longread pack TREE --budget B --query Q --json` through the real CLI. A gold file
    counts as held only if its manifest fidelity is `full` with no `part` (the whole file);
    a `full` block with a `part`, or any other fidelity that shows some of its lines (not
    path, outline or skipped), is reported as partial, never as held.
  - BM25: whole-file Okapi BM25 (k1 0.9, b 0.4, Pyserini's defaults as in the SWE-bench paper)
    over every UTF-8 text file of the tree, path included, tokens split on non-word characters
    and lowercased; files packed in score order, each one that fits in full taken, the rest
    skipped. A file costs its cl100k tokens and nothing else: no file tree, no fences, which
    flatters the baseline.
  - BM25 .py: the same over SWE-bench's retrieval files only (`.py`, here also `.pyi`, whose
    path has no word test/tests/testing), as the paper indexed them: it knows where fixes live.

    .venv/bin/python benchmarks/bench_localization.py GIT_DIR... [--before DATE] [--json]
        [--skip N] [--per-repo N] [--budgets 27000,50000]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LONGREAD = Path(sys.executable).with_name("longread")
BUDGETS = (13_000, 27_000, 50_000, 128_000)
TUNING_PER_REPO = 10  # cases 1-10 per repository were tuned on; later ones are held out
SWE_BENCH_BM25_RECALL = {13_000: 0.296, 27_000: 0.444, 50_000: 0.511}
FIX = re.compile(r"\b(fix|fixes|fixed|bug)\b", re.IGNORECASE)
CHORE = re.compile(
    r"\b(typos?|docs?|lint|ruff|mypy|flake8|tests?|ci|changelog|format|formatting|spelling"
    r"|readme|typing|release|version|pre-commit|workflow|docstrings?|documentation|examples?"
    r"|annotations?|comments?)\b",
    re.IGNORECASE,
)
NOT_SOURCE_DIRS = {"tests", "test", "testing", "docs", "doc", "benchmarks", "scripts", ".github"}
NOT_SOURCE_ROOT = {"setup.py", "noxfile.py"}
TRAILER = re.compile(r"^[A-Za-z-]+: .+$")
WORD = re.compile(r"\W+")
SYSTEMS = ("longread", "bm25", "bm25_py")
NO_CONTENT = {None, "path", "outline", "skipped"}  # fidelities that show none of a file's lines


@dataclass(frozen=True)
class Case:
    repo: str
    sha: str
    parent: str
    query: str
    gold: tuple[str, ...]


@dataclass
class Outcome:
    """How one system did on one case at one budget."""

    held: int  # gold files in full
    partial: int = 0  # gold files shown only in part (longread)
    gold: int = 1

    @property
    def all_held(self) -> bool:
        return self.held == self.gold


# --- case selection -----------------------------------------------------------------------------


def is_source(path: str) -> bool:
    """A non-test Python source file (the kind a fix's gold set is made of)."""
    parts = path.split("/")
    name = parts[-1]
    if not name.endswith((".py", ".pyi")) or (len(parts) == 1 and name in NOT_SOURCE_ROOT):
        return False
    if NOT_SOURCE_DIRS & set(parts[:-1]) or any("example" in part for part in parts[:-1]):
        return False
    return not (name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py")


def is_fix_subject(subject: str) -> bool:
    return bool(FIX.search(subject)) and not CHORE.search(subject)


def query_of(message: str) -> str:
    """The commit message without its trailing `Key: value` trailers."""
    lines = message.strip().split("\n")
    while len(lines) > 1 and (TRAILER.match(lines[-1].strip()) or not lines[-1].strip()):
        lines.pop()
    return "\n".join(lines).strip()


def gold_of(status_lines: Iterable[str]) -> tuple[str, ...] | None:
    """Gold files from `--name-status` lines; None when a source file was added/deleted/renamed."""
    gold = []
    for line in status_lines:
        status, *paths = line.split("\t")
        if not any(is_source(path) for path in paths):
            continue
        if status != "M":
            return None
        gold.append(paths[0])
    return tuple(sorted(gold)) if 1 <= len(gold) <= 4 else None


def git(git_dir: Path, *args: str) -> str:
    command = ["git", "--git-dir", str(git_dir), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def select_cases(
    git_dir: Path, repo: str, per_repo: int, before: str = "", skip: int = 0
) -> list[Case]:
    """The `per_repo` commits after the first `skip` (newest first, committed before `before`)
    that pass the rule."""
    since = [f"--before={before}"] if before else []
    log = git(git_dir, "log", "--no-merges", *since, "--format=%H %P%x00%B%x01", "HEAD")
    cases: list[Case] = []
    seen: set[str] = set()  # a cherry-picked fix is one case
    for record in log.split("\x01"):
        head, _, message = record.strip().partition("\x00")
        shas = head.split()
        if len(shas) != 2 or not is_fix_subject(message.strip().split("\n")[0]):
            continue
        status = git(git_dir, "diff", "--name-status", "-M", shas[1], shas[0]).splitlines()
        gold = gold_of(status)
        query = query_of(message)
        if gold and query not in seen:
            seen.add(query)
            cases.append(Case(repo, shas[0], shas[1], query, gold))
        if len(cases) == skip + per_repo:
            break
    return cases[skip:]


def repositories(paths: Sequence[Path]) -> dict[str, Path]:
    """Name -> git directory, from git directories or folders of them (layout owner+name/repo)."""
    found: dict[str, Path] = {}
    for path in paths:
        candidates = [path] if (path / "HEAD").is_file() else sorted(path.glob("*/repo"))
        for git_dir in candidates:
            name = git_dir.parent.name if git_dir.name in ("repo", ".git") else git_dir.name
            found[name.replace("+", "/")] = git_dir
    return found


# --- the corpus and the whole-file BM25 baseline -------------------------------------------------


def export_tree(git_dir: Path, parent: str, work: Path, repo: str) -> Path:
    """The parent commit's tree as plain files (kept across runs)."""
    tree = work / "trees" / repo.replace("/", "+") / parent
    if not tree.is_dir():
        partial = tree.with_name(parent + ".partial")
        subprocess.run(["rm", "-rf", str(partial)], check=True)
        partial.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "--git-dir", str(git_dir), "archive", parent], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
        partial.rename(tree)
    return tree


def terms(text: str) -> list[str]:
    return [term for term in WORD.split(text.lower()) if term]


@dataclass
class FileIndex:
    """Per-tree files with their BM25 term counts and cl100k tokens."""

    paths: list[str] = field(default_factory=list)
    counts: list[Counter[str]] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)


def index_tree(tree: Path, counter: Any) -> FileIndex:
    index = FileIndex()
    texts = []
    for path in sorted(p for p in tree.rglob("*") if p.is_file() and not p.is_symlink()):
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        relative = path.relative_to(tree).as_posix()
        index.paths.append(relative)
        index.counts.append(Counter(terms(relative + "\n" + text)))
        texts.append(text)
    index.tokens = counter.count_many(texts)
    return index


def in_swe_bench_scope(path: str) -> bool:
    """SWE-bench's retrieval files: `.py` (here also `.pyi`) with no word test/tests/testing."""
    words = set(re.split(r"[ _/.]", path.lower()))
    return path.endswith((".py", ".pyi")) and not words & {"test", "tests", "testing"}


def subset(index: FileIndex, keep: Callable[[str], bool]) -> FileIndex:
    picked = [i for i, path in enumerate(index.paths) if keep(path)]
    return FileIndex(
        [index.paths[i] for i in picked],
        [index.counts[i] for i in picked],
        [index.tokens[i] for i in picked],
    )


def bm25_scores(index: FileIndex, query: str, *, k1: float = 0.9, b: float = 0.4) -> list[float]:
    """Okapi BM25 of every file against the query."""
    n = len(index.counts)
    lengths = [sum(c.values()) for c in index.counts]
    average = sum(lengths) / n if n else 1.0
    scores = [0.0] * n
    for term in set(terms(query)):
        df = sum(1 for c in index.counts if term in c)
        if not df:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for i, c in enumerate(index.counts):
            tf = c.get(term, 0)
            if tf:
                scores[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[i] / average))
    return scores


def bm25_pack(index: FileIndex, scores: list[float], budget: int) -> set[str]:
    """Files in score order (ties by path), each taken if it still fits in full."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], index.paths[i]))
    taken, left = set(), budget
    for i in order:
        if index.tokens[i] <= left:
            taken.add(index.paths[i])
            left -= index.tokens[i]
    return taken


# --- running and reporting ----------------------------------------------------------------------


def longread_outcome(tree: Path, case: Case, budget: int, cache: Path, scratch: Path) -> Outcome:
    """Run the real CLI and read the gold files' fidelity from its manifest."""
    command = [str(LONGREAD), "--cache-dir", str(cache), "pack", str(tree), "--budget", str(budget)]
    command += ["--query", case.query, "--json", "-o", str(scratch / "pack.out")]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"longread pack failed on {case.repo}@{case.sha[:10]}: {done.stderr}")
    manifest = {doc["path"]: doc for doc in json.loads(done.stdout)["documents"]}
    shown = [manifest.get(path, {}) for path in case.gold]
    held = sum(1 for doc in shown if doc.get("fidelity") == "full" and not doc.get("part"))
    partial = sum(1 for doc in shown if doc.get("fidelity") not in NO_CONTENT) - held
    return Outcome(held, partial, len(case.gold))


def run(cases: list[Case], gits: dict[str, Path], budgets: Sequence[int], work: Path) -> list[dict]:
    from longread.ingest.tokens import TiktokenCounter

    counter, rows = TiktokenCounter(), []
    cache, scratch = work / "longread-cache", work / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    for number, case in enumerate(cases, 1):
        print(f"[{number}/{len(cases)}] {case.repo} {case.sha[:10]}", file=sys.stderr)
        tree = export_tree(gits[case.repo], case.parent, work, case.repo)
        index = index_tree(tree, counter)
        baselines = {"bm25": index, "bm25_py": subset(index, in_swe_bench_scope)}
        scored = {name: (idx, bm25_scores(idx, case.query)) for name, idx in baselines.items()}
        for budget in budgets:
            row = {"case": case, "budget": budget}
            row["longread"] = longread_outcome(tree, case, budget, cache, scratch)
            for name, (idx, scores) in scored.items():
                packed = bm25_pack(idx, scores, budget)
                row[name] = Outcome(sum(path in packed for path in case.gold), 0, len(case.gold))
            rows.append(row)
    return rows


def table(rows: list[dict], budgets: Sequence[int]) -> list[dict[str, Any]]:
    """Per budget: share of cases with every gold file held, and mean gold-file recall."""
    out = []
    for budget in budgets:
        at = [row for row in rows if row["budget"] == budget]
        line: dict[str, Any] = {"budget": budget, "cases": len(at)}
        for system in SYSTEMS:
            outcomes = [row[system] for row in at]
            line[f"{system}_all_full"] = sum(o.all_held for o in outcomes) / len(outcomes)
            line[f"{system}_recall"] = sum(o.held / o.gold for o in outcomes) / len(outcomes)
        line["longread_partial"] = sum(r["longread"].partial for r in at) / sum(
            r["longread"].gold for r in at
        )
        line["swe_bench_bm25_recall"] = SWE_BENCH_BM25_RECALL.get(budget)
        out.append(line)
    return out


def markdown(lines: list[dict[str, Any]]) -> str:
    """All-in-full shares and recalls per system, then longread's partial share and the paper's."""
    names = ("longread", "BM25", "BM25 .py")
    header = [
        "| budget | cases | "
        + " | ".join(f"all gold in full: {n}" for n in names)
        + " | "
        + " | ".join(f"gold recall: {n}" for n in names)
        + " | gold in part: longread | SWE-bench paper BM25 recall |",
        "|---" * 10 + "|",
    ]
    body = []
    for line in lines:
        paper = line["swe_bench_bm25_recall"]
        shares = [f"{line[f'{s}_all_full']:.0%}" for s in SYSTEMS]
        recalls = [f"{line[f'{s}_recall']:.3f}" for s in SYSTEMS]
        cells = [f"{line['budget'] // 1000}k", str(line["cases"]), *shares, *recalls]
        cells += [f"{line['longread_partial']:.3f}", "" if paper is None else f"{paper:.3f}"]
        body.append("| " + " | ".join(cells) + " |")
    return "\n".join([*header, *body])


def split_name(skip: int, per_repo: int) -> str:
    """Which set the selected cases belong to: tuning (1-10), held-out (after 10), or mixed."""
    if skip + per_repo <= TUNING_PER_REPO:
        return "tuning"
    return "held-out" if skip >= TUNING_PER_REPO else "mixed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repos", type=Path, nargs="+", help="git directories or folders of them")
    parser.add_argument("--per-repo", type=int, default=10)
    parser.add_argument(
        "--skip", type=int, default=0,
        help="Skip the first N cases per repository (10: the held-out set, cases 11-20).",
    )
    parser.add_argument("--before", default="", help="Only commits before this date (git log).")
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    parser.add_argument("--work", type=Path, default=HERE / ".work" / "localization")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    gits = repositories(args.repos)
    if not gits:
        raise SystemExit(f"no git directories in {' '.join(map(str, args.repos))}")
    cases = [
        case
        for repo, path in gits.items()
        for case in select_cases(path, repo, args.per_repo, args.before, args.skip)
    ]
    split = split_name(args.skip, args.per_repo)
    started = time.perf_counter()
    rows = run(cases, gits, budgets, args.work)
    lines = table(rows, budgets)
    per_repo = Counter(case.repo for case in cases)
    if args.json:
        report = {"per_repo": per_repo, "skip": args.skip, "split": split,
                  "seconds": time.perf_counter() - started, "table": lines}
        report["rows"] = [
            {"repo": r["case"].repo, "sha": r["case"].sha, "gold": r["case"].gold}
            | {"budget": r["budget"], "split": split}
            | {system: vars(r[system]) for system in SYSTEMS}
            for r in rows
        ]
        print(json.dumps(report, indent=2))
        return
    print(", ".join(f"{repo} {n}" for repo, n in sorted(per_repo.items())), end="; ")
    print(f"{len(cases)} cases ({split} set), {time.perf_counter() - started:.0f} s\n")
    print(markdown(lines))


if __name__ == "__main__":
    main()
