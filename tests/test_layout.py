"""tests/ is a package its modules share helpers through (`from tests.fakes import ...`): no test
edits sys.path, and no test module imports another (shared pieces live in helper modules)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_no_test_edits_sys_path() -> None:
    """Not even in the code a test hands a child Python (children.child_env sets PYTHONPATH)."""
    edits = ("sys.path." + "insert", "sys.path." + "append")  # not a match for this file
    offenders = [str(p.relative_to(TESTS)) for p in TESTS.rglob("*.py")
                 if any(edit in p.read_text(encoding="utf-8") for edit in edits)]
    assert offenders == []


def test_no_test_module_imports_another_or_a_conftest() -> None:
    offenders = {}
    for path in TESTS.rglob("*.py"):
        bad = {name for name in _imported_modules(path)
               if name.rsplit(".", 1)[-1].startswith("test_") or name.split(".")[0] == "conftest"}
        if bad:
            offenders[str(path.relative_to(TESTS))] = sorted(bad)
    assert offenders == {}
