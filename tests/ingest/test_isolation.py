from __future__ import annotations

import pytest

from longread.ingest.isolation import extract_pdfs
from tests.pdfs import pdf_bytes

# One page whose single content stream takes pdfium several seconds: the per-page check inside
# read_pdf cannot interrupt it, only killing the worker can.
SLOW_PAGE = "\n".join(f"word{i}" for i in range(600_000))


@pytest.mark.slow
def test_a_page_that_stalls_is_killed_at_the_time_limit_and_named() -> None:
    fast = pdf_bytes(["quick brown fox"])
    results = extract_pdfs([fast, pdf_bytes([SLOW_PAGE]), fast], time_limit_s=0.5)
    assert [r.skip_reason for r in results] == [
        None,
        "PDF extraction stopped after the 0.5 s per-file time limit",
        None,
    ]
    assert "quick brown fox" in results[2].sections[0].text


def test_in_process_extraction_gives_the_same_result_for_good_files() -> None:
    data = pdf_bytes(["page one", "page two"])
    isolated = extract_pdfs([data], time_limit_s=30.0)
    in_process = extract_pdfs([data], time_limit_s=30.0, isolate=False)
    assert isolated == in_process
    assert [s.page for s in isolated[0].sections] == [1, 2]
