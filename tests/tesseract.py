"""The OCR tests need Debian's tesseract-ocr; in CI (CI=true) its absence fails them, not skips."""

from __future__ import annotations

import os
import shutil

import pytest

INSTALL = "apt-get install tesseract-ocr tesseract-ocr-eng"


def need_tesseract() -> None:
    """Skip outside CI, fail in CI (where .ci/run installs it), when tesseract is missing."""
    if shutil.which("tesseract") is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the OCR tests must run in CI: tesseract not found; {INSTALL}")
    pytest.skip(f"tesseract not found; {INSTALL}")
