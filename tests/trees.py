"""Real file trees for tests: one writer shared by every test folder (test modules import it)."""

from __future__ import annotations

from pathlib import Path


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    """Each relpath under `root` with its content (str as UTF-8), parent folders made."""
    for relpath, content in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
