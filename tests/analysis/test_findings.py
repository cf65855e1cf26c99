"""Findings: schema validation, the changed-line filter, merging, and the --fail-on verdict."""

from __future__ import annotations

import json

import pytest

from longread.analysis.jobs.diff import parse_diff
from longread.analysis.jobs.findings import (
    Coverage,
    Finding,
    FindingsFailed,
    ReviewFailed,
    ReviewReport,
    check_fail_on,
    failing,
    keep_near_changes,
    merge_duplicates,
    parse_findings,
)
from longread.ingest.errors import UsageError

DIFF = parse_diff(
    "diff --git a/app.py b/app.py\n--- a/app.py\n+++ b/app.py\n"
    "@@ -20,3 +20,4 @@\n ctx\n+added 21\n ctx\n ctx\n"
    "diff --git a/other.py b/other.py\n--- a/other.py\n+++ b/other.py\n"
    "@@ -5,2 +5,1 @@\n ctx\n-gone\n"
)


def finding(path: str = "app.py", start: int = 21, end: int | None = None, **kw: str) -> Finding:
    values = {"severity": "warning", "category": "bug", "message": "off by one"} | kw
    return Finding(path, start, end or start, **values)  # type: ignore[arg-type]


def model_json(*items: dict) -> str:
    return json.dumps({"findings": list(items)})


def test_valid_output_parses_and_normalizes() -> None:
    item = {"path": "app.py", "start_line": 9, "end_line": 7, "severity": "error"}
    item |= {"category": " Null  Deref ", "message": " boom ", "suggestion": "check"}
    findings, error = parse_findings(model_json(item))
    assert error is None
    assert findings == [Finding("app.py", 7, 9, "error", "null deref", "boom", "check")]


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"findings": [{"path": "a"}]}',
        model_json(
            {
                "path": "a",
                "start_line": 1,
                "end_line": 1,
                "severity": "fatal",
                "category": "x",
                "message": "m",
            }
        ),
        '{"verdict": "approve"}',
        "[]",
    ],
)
def test_invalid_output_is_rejected_with_a_reason(text: str) -> None:
    findings, error = parse_findings(text)
    assert findings == [] and error


def test_only_findings_near_added_lines_survive() -> None:
    kept = keep_near_changes(
        [
            finding(start=24),  # 3 below line 21: kept
            finding(start=25),  # 4 below: dropped
            finding(start=10, end=18),  # ends 3 above: kept
            finding(path="./app.py", start=21),  # prefix normalized
            finding(path="other.py", start=5),  # next to where the file deletes a line: kept
            finding(path="other.py", start=10),  # 4 below that place: dropped
            finding(path="elsewhere.py", start=1),
        ],
        DIFF,
    )
    assert [(f.path, f.start_line) for f in kept] == [
        ("app.py", 24),
        ("app.py", 10),
        ("app.py", 21),
        ("other.py", 5),
    ]


def test_duplicates_merge_keeping_the_most_severe() -> None:
    merged = merge_duplicates(
        [
            finding(start=20, end=22, message="minor"),
            finding(start=22, end=25, severity="error", message="major", suggestion="fix it"),
            finding(start=30, message="separate"),
            finding(start=21, category="style", message="other category"),
        ]
    )
    assert [(f.severity, f.start_line, f.end_line, f.message) for f in merged] == [
        ("error", 20, 25, "major"),
        ("warning", 21, 21, "other category"),
        ("warning", 30, 30, "separate"),
    ]
    assert merged[0].suggestion == "fix it"


@pytest.mark.parametrize(
    ("fail_on", "expected"),
    [("error", 1), ("warning", 2), ("note", 3), ("never", 0)],
)
def test_fail_on_thresholds(fail_on: str, expected: int) -> None:
    findings = [finding(severity=s) for s in ("error", "warning", "note")]
    assert len(failing(findings, fail_on)) == expected


def test_check_fail_on_raises_exit_code_10() -> None:
    report = ReviewReport((finding(severity="error"),), Coverage(), "m")
    with pytest.raises(FindingsFailed) as caught:
        check_fail_on(report, "error")
    assert caught.value.exit_code == 10
    check_fail_on(ReviewReport((finding(severity="note"),), Coverage(), "m"), "warning")
    with pytest.raises(UsageError):
        check_fail_on(report, "sometimes")


def test_a_review_that_did_not_run_fails_the_gate_unless_never() -> None:
    report = ReviewReport((), Coverage(), "m", failure="the model gave no valid findings")
    for fail_on in ("error", "warning", "note"):
        with pytest.raises(ReviewFailed) as caught:
            check_fail_on(report, fail_on)
        assert caught.value.exit_code == 4
    check_fail_on(report, "never")


def test_fingerprint_ignores_lines_but_not_message() -> None:
    assert finding(start=3).fingerprint == finding(start=40).fingerprint
    assert finding(message="a").fingerprint != finding(message="b").fingerprint
