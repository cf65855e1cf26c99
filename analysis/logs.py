"""Where logs go: a file in the cache dir by default, stderr with `-v`; set up once by the CLI.

vLLM, torch, transformers and Triton write to stderr from Python loggers, `warnings`, C++ code
and vLLM's engine child process. Quietly, file descriptor 2 itself is pointed at the log file
(children inherit it) and `sys.stderr` at a copy of the terminal, so longread's own messages,
errors and progress still reach the user while everything else lands in <cache>/logs/longread.log.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from longread.ingest.private import open_private_append, private_dir

LOG_NAME = "longread.log"
FORMAT = "%(asctime)s %(process)d %(name)s %(levelname)s: %(message)s"
# Read by those libraries at import: quiet their advisory chatter in either mode's stream.
LIBRARY_ENV = {
    "VLLM_LOGGING_STREAM": "ext://sys.__stderr__",  # fd 2: the log file when quiet
    "VLLM_LOGGING_LEVEL": "INFO",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def log_path(cache_dir: Path) -> Path:
    return cache_dir / "logs" / LOG_NAME


def setup_logging(cache_dir: Path, *, verbose: bool) -> Callable[[], None]:
    """Route library logs to the log file (or to stderr when verbose); returns the undo."""
    for name, value in LIBRARY_ENV.items():
        os.environ.setdefault(name, value)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    if verbose:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("longread: %(name)s: %(message)s"))
        root.addHandler(handler)
        return lambda: _remove(root, handler)
    try:
        path = log_path(cache_dir)
        private_dir(cache_dir)
        private_dir(path.parent)  # 0700, and the log 0600: it can name the corpus's paths
        stream = os.fdopen(open_private_append(path), "a", encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()  # an unusable cache dir is reported by the command
        root.addHandler(handler)
        return lambda: _remove(root, handler)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    restore_fd = _point_fd2_at(stream)

    def undo() -> None:
        restore_fd()
        _remove(root, handler)
        stream.close()

    return undo


def _point_fd2_at(stream: TextIO) -> Callable[[], None]:
    """Send fd 2 (C code, child processes) to `stream`; keep `sys.stderr` on the terminal."""
    try:
        real = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        real = False  # a captured stderr (tests, CliRunner): nothing at the fd level to move
    if not real:
        return lambda: None
    sys.stderr.flush()
    terminal_fd = os.dup(2)
    original = sys.stderr
    sys.stderr = io.TextIOWrapper(os.fdopen(terminal_fd, "wb", buffering=0),
                                  encoding=original.encoding, errors="backslashreplace",
                                  line_buffering=True, write_through=True)
    os.dup2(stream.fileno(), 2)

    def restore() -> None:
        terminal = sys.stderr
        terminal.flush()
        os.dup2(terminal_fd, 2)
        sys.stderr = original
        terminal.close()

    return restore


def _remove(root: logging.Logger, handler: logging.Handler) -> None:
    root.removeHandler(handler)
    logging.captureWarnings(False)
