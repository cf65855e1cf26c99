"""Recall at a budget, through `longread pack --budget --query` on real git repositories: the
source a bug report is about goes in whole before history files and lower-ranked documents."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from longread.ingest.tokens import TiktokenCounter
from tests.packs import pack_manifest as pack
from tests.packs import whole

if TYPE_CHECKING:
    from tests.ingest.conftest import Build

COUNTER = TiktokenCounter()


def make_repo(build: Build, root: Path, files: dict[str, str | bytes]) -> Path:
    build.repo(root)
    build.files(root, files)
    build.commit(root)
    return root


def filler(name: str, n: int) -> str:
    return "".join(f"def {name}_{i}(x):\n    total = x * {i}\n    return total\n\n"
                   for i in range(n))


def test_a_changelog_that_names_every_change_waits_behind_the_source(
    tmp_path: Path, build: Build
) -> None:
    """CHANGES.md mentions the header parser in every release, so it matches the report best
    by words; it is history, so the parser's source goes in whole first."""
    changes = "".join(
        f"## 1.{i}\n\n- Fix parse_header with empty header lines in release {i}.\n"
        f"- Header parsing of folded lines, round {i}.\n\n" for i in range(120)
    )
    parser = (
        "def parse_header(line):\n    '''Split one header line.'''\n"
        "    name, _, value = line.partition(':')\n    return name.strip(), value.strip()\n\n"
        + filler("fold", 30)
    )
    root = make_repo(build, tmp_path / "repo", {
        "CHANGES.md": changes,
        "src/pkg/parser.py": parser,
        "src/pkg/colors.py": filler("paint", 30),
    })
    budget = COUNTER.count(changes) + 200
    manifest = pack(tmp_path, root, "--budget", str(budget),
                    "--query", "Fix parse_header on empty header lines")
    assert "src/pkg/parser.py" in whole(manifest)
    assert "CHANGES.md" not in whole(manifest)


def test_a_hub_every_module_uses_does_not_crowd_out_the_file_the_report_is_about(
    tmp_path: Path, build: Build
) -> None:
    """core.py is used by every module and mentions width in every method, so its graph rank
    put it first; the report is about padding width, which is what table.py is about. Divided by
    the plain walk's rank, the hub no longer leads, and table.py goes in whole."""
    core = "class Console:\n" + "".join(
        f"    def measure_{i}(self, width{', padding=0' if i % 20 == 0 else ''}):\n"
        f"        '''Fit to the width.'''\n        return min(width, self.size_{i})\n\n"
        for i in range(60)
    )
    files: dict[str, str | bytes] = {"pkg/core.py": core}
    for i in range(8):
        files[f"pkg/mod{i}.py"] = (
            "from pkg.core import Console\n\n"
            f"def render_{i}(console: Console):\n    return console.measure_{i}(80)\n\n"
            + filler(f"step{i}", 6)
        )
    files["pkg/table.py"] = (
        "from pkg.core import Console\n\n\nclass Table:\n"
        "    def cell_width(self, console: Console, padding):\n"
        "        '''The width of a cell with its padding.'''\n"
        "        left, right = padding\n        return console.measure_0(80) + left + right\n\n"
        + filler("column", 25)
    )
    root = make_repo(build, tmp_path / "repo", files)
    budget = COUNTER.count(core) + 300
    manifest = pack(tmp_path, root, "--budget", str(budget), "--query", "Fix for padding width")
    assert "pkg/table.py" in whole(manifest)
