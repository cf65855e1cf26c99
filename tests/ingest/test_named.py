"""Files a query names outright (a path, a traceback frame, a dotted module, a module written as
code) go in whole before files that only share its words, through `longread pack --query`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from longread.ingest.named import defining_files, module_files, named_files
from longread.ingest.tokens import TiktokenCounter
from tests.packs import whole_files

if TYPE_CHECKING:
    from tests.ingest.conftest import Build

COUNTER = TiktokenCounter()

PATHS = [
    "lib/ansible/modules/copy.py",
    "lib/ansible/plugins/action/copy.py",
    "lib/ansible/module_utils/facts/timeout.py",
    "lib/ansible/modules/__init__.py",
    "lib/ansible/modules/dnf5.py",
    "lib/sqlalchemy/orm/session.py",
    "docs/session.rst",
    "test/units/modules/test_copy.py",
]


def make_repo(build: Build, root: Path, files: dict[str, str]) -> Path:
    build.repo(root)
    build.files(root, dict(files))
    build.commit(root)
    return root


def filler(name: str, n: int) -> str:
    return "".join(f"def {name}_{i}(x):\n    return x * {i}\n\n" for i in range(n))


def test_a_traceback_frame_names_the_file_by_its_longest_known_ending() -> None:
    frame = 'File "/usr/lib/python3/site-packages/ansible/modules/copy.py", line 3, in main'
    assert named_files(PATHS, frame) == {"lib/ansible/modules/copy.py"}
    assert named_files(PATHS, r"C:\venv\sqlalchemy\orm\session.py") == {
        "lib/sqlalchemy/orm/session.py"
    }


def test_a_dotted_name_names_its_module_or_package_and_a_plain_word_names_nothing() -> None:
    query = "Fix message of ansible.module_utils.facts.timeout.timeout; see ansible.modules"
    assert named_files(PATHS, query) == {
        "lib/ansible/module_utils/facts/timeout.py",
        "lib/ansible/modules/__init__.py",
    }
    assert named_files(PATHS, "the session times out, e.g. in v2.17 or os.path") == frozenset()


def test_a_module_written_as_code_names_its_source_files_only() -> None:
    def keep(path: str) -> bool:
        return not path.startswith("test/")

    assert module_files(PATHS, "dnf5: fix tb when plugins are missing", keep=keep) == {
        "lib/ansible/modules/dnf5.py"
    }
    assert module_files(PATHS, "fix(session): keep the `copy` flags", keep=keep) == {
        "lib/ansible/modules/copy.py",
        "lib/ansible/plugins/action/copy.py",
        "lib/sqlalchemy/orm/session.py",
    }
    assert module_files(PATHS, "Fix the copy of a session", keep=keep) == frozenset()


def test_a_definition_written_as_code_names_the_few_files_that_define_it() -> None:
    definers = {
        "node_connectivity": ["nx/connectivity.py", "nx/approximation/connectivity.py"],
        "execute": ["orm/session.py"],
        "helper_fn": [f"pkg/m{i}.py" for i in range(5)],
    }
    query = "Fix `node_connectivity` and helper_fn for digraphs; execute works"
    assert defining_files(definers, query, keep=lambda path: True) == {
        "nx/connectivity.py",
        "nx/approximation/connectivity.py",
    }
    only_core = defining_files(definers, query, keep=lambda path: "approximation" not in path)
    assert only_core == {"nx/connectivity.py"}


def test_a_file_the_report_names_goes_in_whole_before_one_that_matches_its_words(
    tmp_path: Path, build: Build
) -> None:
    """wordy.py repeats the report's words; only the frame names timeout.py, so only the query
    with the frame packs it whole."""
    wordy = "".join(
        f"def raise_error_{i}(message):\n    '''Error message from the facts decorator.'''\n"
        "    raise TimeoutError(message)\n\n" for i in range(40)
    )
    root = make_repo(build, tmp_path / "repo", {
        "lib/pkg/module_utils/facts/timeout.py": filler("wait", 40),
        "lib/pkg/module_utils/wordy.py": wordy,
    })
    budget = str(COUNTER.count(wordy) + 200)
    words = "Fix the error message the facts decorator raises"
    frame = '\n  File "/site-packages/pkg/module_utils/facts/timeout.py", line 12, in main'
    target = "lib/pkg/module_utils/facts/timeout.py"
    assert target in whole_files(tmp_path, root, "--budget", budget, "--query", words + frame)
    assert target not in whole_files(tmp_path, root, "--budget", budget, "--query", words)


def test_a_function_the_report_writes_as_code_goes_in_whole_with_its_file(
    tmp_path: Path, build: Build
) -> None:
    """Only cuts.py defines `minimum_node_cut`; wordy.py says "minimum", "node" and "cut" more."""
    wordy = "".join(
        f"def node_{i}(graph):\n    '''The minimum node cut of a digraph, for the cut report.'''\n"
        "    return graph\n\n" for i in range(40)
    )
    cuts = filler("helper", 30) + "def minimum_node_cut(G):\n    return set()\n"
    root = make_repo(build, tmp_path / "repo", {
        "nx/connectivity/cuts.py": cuts,
        "nx/connectivity/wordy.py": wordy,
    })
    budget = str(COUNTER.count(wordy) + 200)
    query = "Fix minimum node cut for digraphs"
    code = query + ": `minimum_node_cut`"
    assert "nx/connectivity/cuts.py" in whole_files(tmp_path, root, "--budget", budget,
                                                    "--query", code)
    assert "nx/connectivity/cuts.py" not in whole_files(tmp_path, root, "--budget", budget,
                                                        "--query", query)
