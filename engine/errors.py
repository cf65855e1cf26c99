"""Engine errors (the tree is drawn in longread.ingest.errors); third-party errors end here."""

from __future__ import annotations

from longread.ingest.errors import LongreadError


class EngineError(LongreadError):
    exit_code = 4


class BackendUnavailable(EngineError):
    """The backend cannot be used: server unreachable, vLLM not installed, model missing."""


class PromptTooLong(EngineError):
    """A prompt cannot fit the model's window even after sharding (the message says by how much)."""
