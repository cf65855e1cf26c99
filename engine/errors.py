"""Engine errors (the tree is drawn in longread.ingest.errors); third-party errors end here."""

from __future__ import annotations

import re

from longread.ingest.errors import LongreadError


def first_line(value: object) -> str:
    """The first non-empty line of an error's text (server text may hold any line break).
    Here, not in http.py, so the vLLM backend gets it without importing httpx (and rich)."""
    lines = [line.strip() for line in re.split(r"[\r\n]+", str(value)) if line.strip()]
    return lines[0] if lines else type(value).__name__


class EngineError(LongreadError):
    exit_code = 4


class BackendUnavailable(EngineError):
    """The backend cannot be used: server unreachable, vLLM not installed, model missing."""


class PromptTooLong(EngineError):
    """A prompt cannot fit the model's window even after sharding (the message says by how much)."""
