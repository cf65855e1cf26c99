"""The localization benchmark: its case rule on a real history, BM25 packing, one real run."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.trees import write_files

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_localization.py"
_spec = importlib.util.spec_from_file_location("bench_localization", SCRIPT)
assert _spec and _spec.loader
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_localization"] = bench  # dataclasses resolve their module by name
_spec.loader.exec_module(bench)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def _commit(repo: Path, message: str, files: dict[str, str]) -> str:
    write_files(repo, dict(files))
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture()
def history(tmp_path: Path) -> Path:
    """A repository whose log holds one case of each kind the rule must keep or drop."""
    repo = tmp_path / "proj"
    repo.mkdir()
    _git(repo, "init", "-q")
    parser = "def parse_header(line):\n    return line.split(':')\n" * 60
    _commit(repo, "Initial", {"src/pkg/parser.py": parser, "src/pkg/colors.py": "RED = 1\n" * 400})
    _commit(repo, "Add feature", {"src/pkg/extra.py": "X = 1\n"})
    _commit(
        repo,
        "Fix parse_header on empty lines\n\nIt crashed.\n\nCo-authored-by: A <a@b>",
        {"src/pkg/parser.py": parser + "# empty\n", "tests/test_parser.py": "def test(): ...\n"},
    )
    _commit(repo, "Fix typo in parser", {"src/pkg/parser.py": parser + "# empty.\n"})
    _commit(repo, "Fix bug by adding a helper", {"src/pkg/helper.py": "Y = 2\n"})
    _commit(  # a cherry-pick of the fix above: same message
        repo, "Fix parse_header on empty lines\n\nIt crashed.", {"src/pkg/parser.py": parser}
    )
    return repo


def test_is_source_keeps_package_code_only() -> None:
    assert bench.is_source("src/black/linegen.py")
    assert bench.is_source("src/attr/__init__.pyi")
    for path in (
        "tests/data/case.py",
        "src/pkg/test_x.py",
        "conftest.py",
        "setup.py",
        "docs/conf.py",
        "typing-examples/baseline.py",
        "README.md",
    ):
        assert not bench.is_source(path), path


def test_swe_bench_scope_is_python_without_test_words() -> None:
    assert bench.in_swe_bench_scope("src/attr/_make.py")
    assert bench.in_swe_bench_scope("src/attr/__init__.pyi")
    for path in ("tests/x.py", "src/pkg/test_x.py", "src/testing/util.py", "README.md"):
        assert not bench.in_swe_bench_scope(path), path
    assert bench.in_swe_bench_scope("src/pkg/contest.py")


def test_fix_subjects_exclude_chores() -> None:
    assert bench.is_fix_subject("Fix crash on `# fmt: skip` (#5200)")
    assert bench.is_fix_subject("fix: resolve CWD before lru_cache key")
    for subject in ("Fix typo", "docs: fix link", "Fix docstring", "Add prefix option"):
        assert not bench.is_fix_subject(subject), subject


def test_query_drops_trailers_but_never_the_subject() -> None:
    assert bench.query_of("fix: a thing\n\nbody\n\nCo-authored-by: A <a@b>\n") == (
        "fix: a thing\n\nbody"
    )
    assert bench.query_of("fix: resolve CWD\n") == "fix: resolve CWD"


def test_select_cases_on_a_real_history(history: Path) -> None:
    """Newest first: the cherry-pick is kept and its twin (same message) skipped; the typo fix
    and the fix that adds a source file are dropped."""
    cases = bench.select_cases(history / ".git", "me/proj", 5)
    head, parent = _git(history, "rev-parse", "HEAD", "HEAD~1").split()
    assert cases == [
        bench.Case(
            "me/proj",
            head,
            parent,
            "Fix parse_header on empty lines\n\nIt crashed.",
            ("src/pkg/parser.py",),
        )
    ]


def test_skip_selects_the_held_out_cases_after_the_tuning_ones(tmp_path: Path) -> None:
    """--skip N passes over the first N cases: tuning and held-out sets never share a case."""
    repo = tmp_path / "proj"
    repo.mkdir()
    _git(repo, "init", "-q")
    _commit(repo, "Initial", {"src/pkg/a.py": "A = 0\n"})
    for n in range(1, 5):
        _commit(repo, f"Fix bug number {n}", {"src/pkg/a.py": f"A = {n}\n"})
    first = bench.select_cases(repo / ".git", "me/proj", 2)
    later = bench.select_cases(repo / ".git", "me/proj", 2, skip=2)
    assert [c.query for c in first] == ["Fix bug number 4", "Fix bug number 3"]
    assert [c.query for c in later] == ["Fix bug number 2", "Fix bug number 1"]
    assert bench.split_name(0, 10) == "tuning"
    assert bench.split_name(10, 10) == "held-out"
    assert bench.split_name(0, 20) == "mixed"


def test_gold_of_rejects_added_sources_and_ignores_tests() -> None:
    assert bench.gold_of(["M\tsrc/a.py", "M\ttests/test_a.py", "M\tCHANGES.md"]) == ("src/a.py",)
    assert bench.gold_of(["M\tsrc/a.py", "A\tsrc/b.py"]) is None
    assert bench.gold_of(["M\tREADME.md"]) is None
    assert bench.gold_of([f"M\tsrc/{n}.py" for n in "abcde"]) is None


def test_bm25_packs_in_score_order_skipping_what_does_not_fit() -> None:
    index = bench.FileIndex(
        paths=["a.py", "b.py", "c.py"],
        counts=[Counter(["parse", "header"]), Counter(["parse"] * 3 + ["x"] * 50), Counter(["y"])],
        tokens=[50, 500, 10],
    )
    scores = bench.bm25_scores(index, "parse header")
    assert scores[0] > scores[1] > scores[2] == 0
    assert bench.bm25_pack(index, scores, 100) == {"a.py", "c.py"}


@pytest.mark.slow
def test_a_whole_run_through_the_cli(history: Path, tmp_path: Path) -> None:
    """The benchmark packs the parent tree with the real `longread pack` and scores both systems."""
    command = [sys.executable, str(SCRIPT), str(history / ".git"), "--per-repo", "1"]
    command += ["--budgets", "300,100000", "--work", str(tmp_path / "work"), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    report = json.loads(done.stdout)
    assert report["per_repo"] == {"proj": 1}
    assert report["split"] == "tuning" and {row["split"] for row in report["rows"]} == {"tuning"}
    small, large = report["table"]
    assert small["longread_all_full"] == small["bm25_all_full"] == small["bm25_py_all_full"] == 0
    assert large["longread_all_full"] == large["bm25_all_full"] == large["bm25_py_all_full"] == 1
    assert large["longread_recall"] == large["bm25_recall"] == 1


def test_changed_lines_are_the_parents_lines_a_fix_rewrote_or_follows() -> None:
    diff = (
        "diff --git a/src/a.py b/src/a.py\n--- a/src/a.py\n+++ b/src/a.py\n"
        "@@ -3,2 +3,2 @@ def f():\n-x\n-y\n+x\n+z\n@@ -10 +10,0 @@\n-gone\n"
        "@@ -20,0 +21,3 @@\n+new\n@@ -0,0 +1 @@\n+top\n"
        "diff --git a/src/b.py b/src/b.py\n--- a/src/b.py\n+++ b/src/b.py\n@@ -7 +7 @@\n-a\n+b\n"
    )
    assert bench.changed_lines(diff) == {"src/a.py": (1, 3, 4, 10, 20), "src/b.py": (7,)}


def test_changed_lines_count_as_shown_only_inside_the_shown_ranges() -> None:
    part = {"unit": "lines", "ranges": [[1, 5], [18, 30]]}
    assert bench.shows_lines({"fidelity": "full"}, (3, 400))
    assert bench.shows_lines({"fidelity": "full", "part": part}, (3, 20))
    assert not bench.shows_lines({"fidelity": "full", "part": part}, (3, 10))
    assert not bench.shows_lines({"fidelity": "outline"}, (3,))
    pages = {"unit": "pages", "ranges": [[1, 50]]}
    assert not bench.shows_lines({"fidelity": "full", "part": pages}, (3,))


def test_bm25_is_the_independent_library_with_lucene_idf() -> None:
    """bm25s scores agree with Lucene's formula (up to its constant k1 + 1 factor)."""
    index = bench.FileIndex(
        paths=["a", "b"], counts=[Counter(["x", "x", "y"]), Counter(["y"])], tokens=[1, 1]
    )
    k1, b, average = 0.9, 0.4, 2.0
    idf = __import__("math").log(1 + (2 - 1 + 0.5) / (1 + 0.5))
    expected = idf * 2 / (2 + k1 * (1 - b + b * 3 / average))
    scores = bench.bm25_scores(index, "x unknown")
    assert scores[1] == 0 and abs(scores[0] - expected) < 1e-5


def test_a_line_numbered_run_reports_changed_lines_shown(history: Path, tmp_path: Path) -> None:
    """--line-numbers packs again, numbered; a whole gold file shows every changed line;
    --no-baselines runs longread alone."""
    command = [sys.executable, str(SCRIPT), str(history / ".git"), "--per-repo", "1"]
    command += ["--budgets", "100000", "--work", str(tmp_path / "work"), "--json", "--line-numbers"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    (line,) = json.loads(done.stdout)["table"]
    assert line["longread_ln_all_full"] == line["longread_ln_all_lines"] == 1
    assert line["longread_all_lines"] == 1 and line["bm25_all_full"] == 1
    quick = subprocess.run([*command, "--no-baselines"], capture_output=True, text=True, check=True)
    (line,) = json.loads(quick.stdout)["table"]
    assert line["longread_all_full"] == 1 and "bm25_all_full" not in line


def test_the_numbered_table_has_as_many_cells_as_headers() -> None:
    case = bench.Case("me/proj", "a" * 40, "b" * 40, "Fix it", ("src/a.py",))
    row = {"case": case, "budget": 13_000, "longread": bench.Outcome(1, 0, 1, 1)}
    row |= {"bm25": bench.Outcome(0), "bm25_py": bench.Outcome(1), "longread_ln": bench.Outcome(0)}
    header, rule, body = bench.markdown(bench.table([row], [13_000])).split("\n")
    assert header.count("|") == rule.count("|") == body.count("|") == 13
    assert body.endswith("| 0% | 0% |")


def test_a_latin_1_commit_message_does_not_stop_case_selection(tmp_path: Path) -> None:
    """Some old commits (celery's) say `encoding UTF-8` over Latin-1 bytes, which git log passes
    through as they are: its output is decoded with replacement, not refused."""
    repo = tmp_path / "proj"
    repo.mkdir()
    _git(repo, "init", "-q")
    parent = _commit(repo, "Initial", {"src/pkg/a.py": "A = 0\n"})
    tree = _git(repo, "rev-parse", _commit(repo, "Fix it", {"src/pkg/a.py": "A = 1\n"}) + "^{tree}")
    raw = (
        f"tree {tree.strip()}\nparent {parent}\nauthor t <t@t> 0 +0000\n"
        "committer t <t@t> 0 +0000\nencoding UTF-8\n\n"
    ).encode() + "Fix crash in caf\xe9 parser\n".encode("latin-1")
    made = subprocess.run(
        ["git", "-C", str(repo), "hash-object", "-t", "commit", "-w", "--stdin"],
        input=raw, check=True, capture_output=True,
    ).stdout.decode().strip()
    _git(repo, "update-ref", "HEAD", made)
    (case,) = bench.select_cases(repo / ".git", "me/proj", 5)
    assert case.gold == ("src/pkg/a.py",) and case.query == "Fix crash in caf\ufffd parser"
