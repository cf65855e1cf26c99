"""Quiet by default: library noise goes to <cache>/logs/longread.log, `-v` shows it on stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.children import child_env

# A backend that makes the noise vLLM, torch and transformers make: a Python warning, a library
# logger, a C-level write to fd 2 and a child process writing to its stderr.
NOISY_RUN = """
import logging, os, subprocess, sys, warnings
from tests.fakes import FakeBackend
from longread.engine.backend import BACKENDS

def noisy(**options):
    warnings.warn("noise: a library warning")
    logging.getLogger("vllm.engine").warning("noise: a library log line")
    os.write(2, b"noise: a C-level write to fd 2\\n")
    subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('noise: a child\\\\n')"])
    return FakeBackend()

BACKENDS["noisy"] = noisy
from longread.analysis.cli.commands import main
sys.argv = ["longread", *sys.argv[1:]]
main()
"""


def _run(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / "notes.md").write_text("The zebra lives in the notes.\n")
    command = [sys.executable, "-c", NOISY_RUN, *flags, "--cache-dir", str(tmp_path / "cache"),
               "ask", str(corpus), "Where is the zebra?", "--backend", "noisy", "--no-cache"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env=child_env())


@pytest.mark.slow
def test_library_noise_goes_to_the_log_file_not_the_terminal(tmp_path: Path) -> None:
    done = _run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "noise" not in done.stderr and "zebra" in done.stdout
    log = (tmp_path / "cache" / "logs" / "longread.log").read_text()
    for noise in ("a library warning", "a library log line", "a C-level write", "a child"):
        assert f"noise: {noise}" in log


@pytest.mark.slow
def test_verbose_shows_the_noise_on_stderr(tmp_path: Path) -> None:
    done = _run(tmp_path, "-v")
    assert done.returncode == 0, done.stderr
    for noise in ("a library warning", "a library log line", "a C-level write", "a child"):
        assert f"noise: {noise}" in done.stderr


@pytest.mark.slow
def test_errors_still_reach_the_terminal_when_quiet(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", NOISY_RUN, "--cache-dir", str(tmp_path / "cache"), "ask",
         str(tmp_path / "missing"), "Where?", "--backend", "noisy"],
        capture_output=True, text=True, timeout=120, env=child_env(),
    )
    assert done.returncode != 0
    assert done.stderr.startswith("longread: error: no such file or directory")


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["prefilling", "generating"])
def test_progress_names_the_engine_stages(stage: str) -> None:
    from longread.engine.vllm_backend import prefill_ticker

    seen: list[tuple[str, int, int | None]] = []
    with prefill_ticker(lambda *event: seen.append(event), 4000, rate=80000.0):
        import time

        time.sleep(0.6)  # the estimate (0.05 s) has passed: the ticker says "generating"
    stages = [name for name, _, _ in seen]
    assert stages[0] == "prefilling 4,000 tokens (~0 s at 80000 tok/s)"
    assert any(name.startswith(stage) for name in stages)
