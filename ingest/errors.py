"""The one exception tree of longread; every layer raises a subclass, the CLI prints one line.

    LongreadError (exit 1)
    ├── UsageError (exit 2)          bad flags, bad config
    │   └── OutputError              defined in analysis/cli/output.py: an output file or
    │                                stdout cannot be written (missing folder, full disk)
    ├── IngestError (exit 3)         the corpus cannot be read as a whole: a path that does not
    │                                exist, no file left to pack
    ├── EngineError (exit 4)         defined in longread.engine.errors
    │   ├── BackendUnavailable       server unreachable, vLLM not installed, model missing
    │   ├── PromptTooLong            the corpus cannot fit and cannot be sharded
    │   └── ReviewFailed             defined in longread.analysis: no valid findings after a retry
    ├── CacheError (exit 5)          a cache folder or database cannot be used, written or repaired
    └── FindingsFailed (exit 10)     defined in longread.analysis: review --fail-on tripped

`str(error)` is worded for every caller: the Python API, the web API and MCP, whose callers have
no flags. Where the CLI can say more in its own words (`--budget`, `-q/--questions`), the error
carries that text as `cli`, and the CLI prints it instead.

One broken file is never an error: it is skipped and named in the manifest. Outside the tree, the
CLI exits 130 on Ctrl-C and 141 on a closed stdout pipe, each without a traceback.
"""

from __future__ import annotations


class LongreadError(Exception):
    """Base of every error a user can cause; `exit_code` is what the CLI exits with, `cli` the
    same error in the CLI's words when they name its flags (None: str(error) serves all)."""

    exit_code = 1

    def __init__(self, *args: object, cli: str | None = None) -> None:
        super().__init__(*args)
        self.cli = cli


class UsageError(LongreadError):
    exit_code = 2


class IngestError(LongreadError):
    exit_code = 3


class CacheError(LongreadError):
    exit_code = 5
