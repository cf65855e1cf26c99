"""`longread pack --json` through the CLI, and which files its manifest shows whole: what the
recall tests (test_fit_recall, test_named, test_source_prior) look at."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from longread.analysis.cli.commands import cli
from longread.ingest.tokens import TiktokenCounter

COUNTER = TiktokenCounter()


def pack_manifest(tmp_path: Path, root: Path, *args: str) -> dict[str, Any]:
    """The manifest of `longread pack ROOT ARGS --json`; its token count is the pack's own."""
    out = tmp_path / "pack.xml"
    result = CliRunner().invoke(
        cli, ["--cache-dir", str(tmp_path / "cache"), "pack", str(root), "-o", str(out),
              "--json", *args],
    )
    assert result.exit_code == 0, result.output
    manifest: dict[str, Any] = json.loads(result.stdout)
    assert manifest["tokens"] == COUNTER.count(out.read_text(encoding="utf-8"))
    return manifest


def whole(manifest: dict[str, Any]) -> set[str]:
    """Paths in the pack in full, with no part cut from them."""
    documents = manifest["documents"]
    return {e["path"] for e in documents if e["fidelity"] == "full" and not e.get("part")}


def whole_files(tmp_path: Path, root: Path, *args: str) -> set[str]:
    """Paths `longread pack ROOT ARGS` shows in full."""
    return whole(pack_manifest(tmp_path, root, *args))
