"""The distribution: three folders under one `longread` namespace, nothing else in site-packages."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_holds_only_the_longread_namespace(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), str(REPO)],
        check=True, capture_output=True,
    )
    [wheel] = tmp_path.glob("longread-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[0] for name in names if not name.endswith("/")}
    assert {p for p in packages if not p.endswith(".dist-info")} == {"longread"}
    top = {"/".join(name.split("/")[:2]) for name in names if name.startswith("longread/")}
    assert top == {"longread/ingest", "longread/engine", "longread/analysis"}
    assert "longread/ingest/queries/python.scm" in names
    assert "longread/engine/presets/llama-4-scout.json" in names  # the planner's config data
    assert "longread/analysis/cli/commands.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "longread = longread.analysis.cli.commands:main" in zipfile.ZipFile(wheel).read(
        entry_points
    ).decode()
