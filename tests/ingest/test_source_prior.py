"""With a query, hand-written source outweighs the docs, tests, examples and changelogs that share
its words (a fix seldom changes them), through `longread pack --query`; without a query, nothing
moves."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from longread.ingest import rank
from longread.ingest.document import Document, Section
from longread.ingest.languages import language_for
from longread.ingest.outline import extract_outline
from longread.ingest.tokens import TiktokenCounter
from tests.packs import whole_files

if TYPE_CHECKING:
    from tests.ingest.conftest import Build

COUNTER = TiktokenCounter()
QUERY = "Fix the retry timeout when the pool reconnects"
# The guide says the query's words more often than the module the fix changes.
GUIDE = "".join(
    f"## Retry {i}\n\nThe pool retries after a timeout; when the pool reconnects, the retry "
    "timeout starts again.\n\n" for i in range(12)
)
MODULE = "".join(
    f"def backoff_{i}(pool, retry):\n    '''Wait before the next retry.'''\n"
    "    return pool.timeout * retry\n\n" for i in range(12)
)


@pytest.mark.parametrize("other", ["docs/retry.md", "tests/test_retry.py", "examples/retry.py"])
def test_a_query_packs_the_source_whole_before_docs_tests_and_examples_with_its_words(
    tmp_path: Path, build: Build, monkeypatch: pytest.MonkeyPatch, other: str
) -> None:
    """Only one of the two files fits; without the source prior the wordier one wins."""
    text = GUIDE if other.endswith(".md") else MODULE.replace("backoff_", "check_retry_timeout_")
    root = tmp_path / "repo"
    build.repo(root)
    build.files(root, {"pool/retry.py": MODULE, other: text})
    build.commit(root)
    budget = str(max(COUNTER.count(MODULE), COUNTER.count(text)) + 150)
    assert whole_files(tmp_path, root, "--budget", budget, "--query", QUERY) == {"pool/retry.py"}
    monkeypatch.setattr(rank, "NON_SOURCE_FACTOR", 1.0)
    monkeypatch.setattr(rank, "TEST_FACTOR", 1.0)
    assert whole_files(tmp_path, root, "--budget", budget, "--query", QUERY) == {other}


def test_only_hand_written_code_outside_tests_docs_and_examples_escapes_the_factor() -> None:
    def factor(path: str, text: str = MODULE) -> float:
        language = language_for(path)
        outline = extract_outline(text, language) if language == "python" else None
        return rank.source_factor(Document(
            path=path, kind="code" if outline else "text", sha256="0", size=len(text),
            sections=(Section(text),), language=language, outline=outline,
        ))

    assert factor("pool/retry.py") == factor("src/pkg/history.py") == 1.0
    non_source = [
        factor("tests/test_retry.py"), factor("pool/retry_test.py"), factor("docs/conf.py"),
        factor("examples/retry.py"), factor("vendor/retry.py"), factor("CHANGES.rst", GUIDE),
        factor("README.md", GUIDE), factor("pool/settings.toml", "timeout = 3\n"),
    ]
    assert non_source == [rank.NON_SOURCE_FACTOR] * len(non_source)
    assert rank.NON_SOURCE_FACTOR < 1.0
