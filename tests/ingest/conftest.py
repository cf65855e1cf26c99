"""Builders for real inputs: PDFs written by hand (text and image pages), git repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.pdfs import encrypted_pdf_bytes, pdf_bytes
from tests.trees import write_files


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def init_repo(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "tests@example.com")
    git(root, "config", "user.name", "tests")


def commit_all(root: Path) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "fixture")


class Build:
    """The builders above, handed to tests as the `build` fixture (test modules never import
    conftest: another conftest.py would shadow it)."""

    pdf = staticmethod(pdf_bytes)
    encrypted_pdf = staticmethod(encrypted_pdf_bytes)
    files = staticmethod(write_files)
    repo = staticmethod(init_repo)
    commit = staticmethod(commit_all)
    git = staticmethod(git)


@pytest.fixture
def build() -> Build:
    return Build()


@pytest.fixture
def text_pdf() -> bytes:
    return pdf_bytes(["Alpha page one\nsecond line", "Beta page two"])
