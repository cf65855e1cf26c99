"""Recall at a budget: does the pack hold, in full, the files a real bug fix changed?

Cases are real bug-fix commits of public Python projects outside the twelve SWE-bench
repositories. Give the benchmark git directories (e.g. the mirrors `fetch` brings:
/work/.mirror/psf+black/repo), or a folder holding them; nothing of theirs is committed here.
Two sets of repositories: the small one the ranker was first tuned on (psf/black,
Textualize/rich, pallets/click, encode/httpx, python-attrs/attrs, where 128k holds most of a
tree), and the LARGE one (issue 18), where the budget has to choose: ansible/ansible (3.19M
cl100k tokens at c9ac477e53a9), sqlalchemy/sqlalchemy (5.86M at f35da7e2b934), celery/celery
(1.32M at 5dc781f0bd5f) and networkx/networkx (3.27M at cfc6b79fc53f), every UTF-8 text file of
HEAD counted; none is among SWE-bench's twelve. docs/recall-large.md has their figures.

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
every row. On the large repositories, where a case costs about a minute of CPU, runs take the first
5 of each set (`--per-repo 5` with `--skip 0`, `10`, `20`); `--skip 20` there is the fresh held-out
set that nothing, the first tuning included, has seen.
Query = the commit message (subject and body, trailers like Co-authored-by dropped); the diff is
never shown. Issue 18 asks for the linked issue's title and body where a commit references one;
this benchmark runs offline (no GitHub API), so a message that only points at an issue ("(#1234)",
"Fixes #N") stays as it is: the issue's text is not fetched, and the query is what the committer
wrote, which often names the code more plainly than a user's report would.
Gold = those source files. Corpus = the parent commit's tree (`git archive`, cached under --work,
one per parent).

Systems, at each budget (cl100k tokens):
  - longread: `longread pack TREE --budget B --query Q --json` through the real CLI. A gold file
    counts as held only if its manifest fidelity is `full` with no `part` (the whole file);
    a `full` block with a `part`, or any other fidelity that shows some of its lines (not
    path, outline or skipped), is reported as partial, never as held.
  - BM25: whole-file Okapi BM25 (k1 0.9, b 0.4, Pyserini's defaults as in the SWE-bench paper)
    over every UTF-8 text file of the tree, path included, tokens split on non-word characters
    and lowercased; files packed in score order, each one that fits in full taken, the rest
    skipped. Scored by the `bm25s` library (method "lucene", Lucene's and so Pyserini's idf
    ln(1 + (N - df + 0.5) / (df + 0.5))), not by longread's own code; this file only tokenizes.
    What differs from Pyserini: no stemming or stop words (Lucene's English analyzer has both), the
    query's words counted once each, and Lucene's per-term (k1 + 1) factor left out, which
    scales every score alike and so keeps the order. A file costs its cl100k tokens and nothing
    else: no file tree, no fences, which flatters the baseline.
  - BM25 .py: the same over SWE-bench's retrieval files only (`.py`, here also `.pyi`, whose
    path has no word test/tests/testing), as the paper indexed them: it knows where fixes live.

  - longread --line-numbers (with the benchmark's --line-numbers): the same pack with numbered
    lines; beside "all gold in full" it reports "every changed line shown": every line of the
    parent that the fix removed or rewrote (for a pure insertion, the line it follows) lies in a
    gold file shown whole, or inside the line ranges of its manifest `part`.

    .venv/bin/python benchmarks/bench_localization.py GIT_DIR... [--before DATE] [--json]
        [--skip N] [--per-repo N] [--budgets 27000,50000] [--line-numbers]
"""

from __future__ import annotations

import argparse
import json
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
NUMBERED = "longread_ln"  # longread with --line-numbers (the benchmark's --line-numbers)
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+")
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
    lines: int = 0  # gold files with every line the fix changed shown (longread)

    @property
    def all_held(self) -> bool:
        return self.held == self.gold

    @property
    def all_lines(self) -> bool:
        return self.lines == self.gold


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


def changed_lines(diff: str) -> dict[str, tuple[int, ...]]:
    """Per file of a `git diff -U0`, the parent's lines the fix removed or rewrote; an insertion
    counts the line it follows (line 1 at the top), the place a reader must see."""
    changed: dict[str, set[int]] = {}
    path = None
    for line in diff.splitlines():
        if line.startswith("--- "):
            path = line[6:] if line.startswith("--- a/") else None
        elif path and (hunk := HUNK.match(line)):
            start, count = int(hunk[1]), int(hunk[2] or "1")
            changed.setdefault(path, set()).update(
                range(start, start + count) if count else [max(start, 1)]
            )
    return {path: tuple(sorted(lines)) for path, lines in changed.items()}


def git(git_dir: Path, *args: str) -> str:
    command = ["git", "--git-dir", str(git_dir), *args]
    done = subprocess.run(command, check=True, capture_output=True)
    return done.stdout.decode("utf-8", errors="replace")  # old commits may be Latin-1


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
    """Okapi BM25 of every file against the query, by the independent `bm25s` library (its
    "lucene" variant: Pyserini's scoring, idf = ln(1 + (N - df + 0.5) / (df + 0.5)))."""
    import bm25s

    if not index.counts:
        return []
    retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
    retriever.index([list(counts.elements()) for counts in index.counts], show_progress=False)
    known = sorted({term for term in terms(query) if term in retriever.vocab_dict})
    if not known:
        return [0.0] * len(index.counts)
    return [float(score) for score in retriever.get_scores(known)]


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


def shows_lines(doc: dict[str, Any], lines: Sequence[int]) -> bool:
    """The manifest entry shows every one of these lines: the whole file, or a part whose line
    ranges cover them all."""
    if doc.get("fidelity") != "full":
        return False
    part = doc.get("part")
    if not part:
        return True
    ranges = part["ranges"] if part.get("unit") == "lines" else []
    return all(any(low <= n <= high for low, high in ranges) for n in lines)


def longread_outcome(
    tree: Path, case: Case, budget: int, work: Path, changed: dict[str, tuple[int, ...]],
    *, line_numbers: bool = False,
) -> Outcome:
    """Run the real CLI and read the gold files' fidelity from its manifest."""
    command = [str(LONGREAD), "--cache-dir", str(work / "longread-cache"), "pack", str(tree)]
    command += ["--budget", str(budget), "--query", case.query, "--json"]
    command += ["-o", str(work / "scratch" / "pack.out")]
    command += ["--line-numbers"] if line_numbers else []
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"longread pack failed on {case.repo}@{case.sha[:10]}: {done.stderr}")
    manifest = {doc["path"]: doc for doc in json.loads(done.stdout)["documents"]}
    shown = [manifest.get(path, {}) for path in case.gold]
    held = sum(1 for doc in shown if doc.get("fidelity") == "full" and not doc.get("part"))
    partial = sum(1 for doc in shown if doc.get("fidelity") not in NO_CONTENT) - held
    lines = sum(
        shows_lines(doc, changed.get(path, ())) for path, doc in zip(case.gold, shown, strict=True)
    )
    return Outcome(held, partial, len(case.gold), lines)


def bm25_systems(tree: Path, query: str, counter: Any) -> dict[str, tuple[FileIndex, list[float]]]:
    """Both BM25 baselines' indexes of the tree and their scores for the query."""
    index = index_tree(tree, counter)
    indexes = {"bm25": index, "bm25_py": subset(index, in_swe_bench_scope)}
    return {name: (idx, bm25_scores(idx, query)) for name, idx in indexes.items()}


def run(
    cases: list[Case], gits: dict[str, Path], budgets: Sequence[int], work: Path,
    *, line_numbers: bool = False, baselines: bool = True,
) -> list[dict]:
    from longread.ingest.tokens import TiktokenCounter

    counter, rows = TiktokenCounter(), []
    (work / "scratch").mkdir(parents=True, exist_ok=True)
    for number, case in enumerate(cases, 1):
        print(f"[{number}/{len(cases)}] {case.repo} {case.sha[:10]}", file=sys.stderr)
        tree = export_tree(gits[case.repo], case.parent, work, case.repo)
        diff = git(gits[case.repo], "diff", "-U0", case.parent, case.sha, "--", *case.gold)
        changed = changed_lines(diff)
        scored = bm25_systems(tree, case.query, counter) if baselines else {}
        for budget in budgets:
            row = {"case": case, "budget": budget}
            row["longread"] = longread_outcome(tree, case, budget, work, changed)
            if line_numbers:
                row[NUMBERED] = longread_outcome(
                    tree, case, budget, work, changed, line_numbers=True
                )
            for name, (idx, scores) in scored.items():
                packed = bm25_pack(idx, scores, budget)
                row[name] = Outcome(sum(path in packed for path in case.gold), 0, len(case.gold))
            rows.append(row)
    return rows


def table(rows: list[dict], budgets: Sequence[int]) -> list[dict[str, Any]]:
    """Per budget: share of cases with every gold file held, mean gold-file recall, and (longread)
    share of cases with every changed line shown."""
    out = []
    for budget in budgets:
        at = [row for row in rows if row["budget"] == budget]
        line: dict[str, Any] = {"budget": budget, "cases": len(at)}
        for system in (*SYSTEMS, NUMBERED):
            outcomes = [row[system] for row in at if system in row]
            if not outcomes:
                continue
            line[f"{system}_all_full"] = sum(o.all_held for o in outcomes) / len(outcomes)
            line[f"{system}_recall"] = sum(o.held / o.gold for o in outcomes) / len(outcomes)
            if system.startswith("longread"):
                line[f"{system}_all_lines"] = sum(o.all_lines for o in outcomes) / len(outcomes)
        line["longread_partial"] = sum(r["longread"].partial for r in at) / sum(
            r["longread"].gold for r in at
        )
        line["swe_bench_bm25_recall"] = SWE_BENCH_BM25_RECALL.get(budget)
        out.append(line)
    return out


def markdown(lines: list[dict[str, Any]]) -> str:
    """All-in-full shares and recalls per system, longread's partial share and the paper's, then
    (with --line-numbers) the numbered pack's all-in-full and every-changed-line shares."""
    names = ("longread", "BM25", "BM25 .py")
    numbered = bool(lines) and f"{NUMBERED}_all_full" in lines[0]
    extra = (" all gold in full: longread --line-numbers | every changed line shown:"
             " longread --line-numbers |") if numbered else ""
    header = [
        "| budget | cases | "
        + " | ".join(f"all gold in full: {n}" for n in names)
        + " | "
        + " | ".join(f"gold recall: {n}" for n in names)
        + " | gold in part: longread | SWE-bench paper BM25 recall |"
        + extra,
        "|---" * (12 if numbered else 10) + "|",
    ]
    body = []
    for line in lines:
        paper = line["swe_bench_bm25_recall"]
        shares = [f"{line[f'{s}_all_full']:.0%}" if f"{s}_recall" in line else "" for s in SYSTEMS]
        recalls = [f"{line[f'{s}_recall']:.3f}" if f"{s}_recall" in line else "" for s in SYSTEMS]
        cells = [f"{line['budget'] // 1000}k", str(line["cases"]), *shares, *recalls]
        cells += [f"{line['longread_partial']:.3f}", "" if paper is None else f"{paper:.3f}"]
        if numbered:
            cells += [f"{line[f'{NUMBERED}_all_full']:.0%}", f"{line[f'{NUMBERED}_all_lines']:.0%}"]
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
    parser.add_argument(
        "--no-baselines", action="store_true",
        help="Run longread only (tuning runs: the baselines do not change with the ranker).",
    )
    parser.add_argument(
        "--line-numbers", action="store_true",
        help="Also pack with --line-numbers and report whether every changed line is shown.",
    )
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
    rows = run(cases, gits, budgets, args.work, line_numbers=args.line_numbers,
               baselines=not args.no_baselines)
    lines = table(rows, budgets)
    per_repo = Counter(case.repo for case in cases)
    if args.json:
        report = {"per_repo": per_repo, "skip": args.skip, "split": split,
                  "seconds": time.perf_counter() - started, "table": lines}
        report["rows"] = [
            {"repo": r["case"].repo, "sha": r["case"].sha, "gold": r["case"].gold}
            | {"budget": r["budget"], "split": split}
            | {system: vars(r[system]) for system in (*SYSTEMS, NUMBERED) if system in r}
            for r in rows
        ]
        print(json.dumps(report, indent=2))
        return
    print(", ".join(f"{repo} {n}" for repo, n in sorted(per_repo.items())), end="; ")
    print(f"{len(cases)} cases ({split} set), {time.perf_counter() - started:.0f} s\n")
    print(markdown(lines))


if __name__ == "__main__":
    main()
