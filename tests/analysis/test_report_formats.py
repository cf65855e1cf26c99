"""Each review output format: SARIF against the OASIS schema, rdjsonl, GitHub commands, Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft7Validator

from longread.analysis.jobs.findings import Coverage, Finding, ReviewReport
from longread.analysis.jobs.report_formats import GITHUB_CAP, render_report
from longread.ingest.errors import UsageError

SARIF_SCHEMA = Path(__file__).resolve().parents[1] / "data/sarif-schema-2.1.0.json"  # vendored
COVERAGE = Coverage(full=("app.py",), outline=("lib.py",), omitted=("big.bin",))


def report(*findings: Finding, **kw: object) -> ReviewReport:
    return ReviewReport(tuple(findings), COVERAGE, "tiny-model", **kw)  # type: ignore[arg-type]


TRICKY = Finding(
    "src/a b,c:d.py", 3, 5, "error", "Null Deref", "100% broken:\nline two, really", "x = y or 0"
)
PLAIN = Finding("app.py", 7, 7, "note", "style", "name | pipe")
FAILURE = "the model gave no valid findings after a retry: the review did not run"


def test_sarif_validates_against_the_2_1_0_schema() -> None:
    sarif = json.loads(render_report(report(TRICKY, PLAIN, warnings=("retried once",)), "sarif"))
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    errors = list(Draft7Validator(schema).iter_errors(sarif))
    assert errors == []
    empty = json.loads(render_report(report(), "sarif"))
    assert list(Draft7Validator(schema).iter_errors(empty)) == []
    failed = json.loads(render_report(report(failure=FAILURE), "sarif"))
    assert list(Draft7Validator(schema).iter_errors(failed)) == []


def test_a_review_that_did_not_run_says_so_in_every_format() -> None:
    failed = report(failure=FAILURE)
    (invocation,) = json.loads(render_report(failed, "sarif"))["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert {"level": "error", "message": {"text": FAILURE}} in invocation[
        "toolExecutionNotifications"
    ]
    assert json.loads(render_report(report(), "sarif"))["runs"][0]["invocations"][0][
        "executionSuccessful"
    ] is True
    github = render_report(failed, "github")
    assert "::error title=longread review did not run::the model gave no valid findings" in github
    markdown = render_report(failed, "markdown")
    assert "The review did not run" in markdown and "No findings" not in markdown
    assert json.loads(render_report(failed, "json"))["failure"] == FAILURE


def test_sarif_content() -> None:
    run = json.loads(render_report(report(TRICKY, PLAIN), "sarif"))["runs"][0]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert rules == ["null-deref", "style"]
    first = run["results"][0]
    assert first["level"] == "error" and first["ruleIndex"] == 0
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "src/a%20b%2Cc%3Ad.py"
    assert location["region"] == {"startLine": 3, "endLine": 5}
    assert first["partialFingerprints"]["longreadFindingHash/v1"] == TRICKY.fingerprint


def test_rdjsonl_parses_line_by_line() -> None:
    lines = render_report(report(TRICKY, PLAIN), "rdjsonl").splitlines()
    parsed = [json.loads(line) for line in lines]
    assert [item["severity"] for item in parsed] == ["ERROR", "INFO"]
    assert parsed[0]["location"] == {
        "path": "src/a b,c:d.py",
        "range": {"start": {"line": 3}, "end": {"line": 5}},
    }
    assert parsed[0]["source"] == {"name": "longread"}
    assert parsed[0]["suggestions"][0]["text"] == "x = y or 0"
    assert "suggestions" not in parsed[1]


def test_github_commands_are_escaped() -> None:
    first = render_report(report(TRICKY), "github").splitlines()[0]
    assert first.startswith(
        "::error file=src/a b%2Cc%3Ad.py,line=3,endLine=5,title=longread null-deref::"
    )
    message = first.split("::", 2)[2]
    assert message.startswith("100%25 broken:%0Aline two, really%0A%0ASuggestion: x = y or 0")
    assert "\n" not in first


def test_github_caps_each_type_and_summarizes_the_rest() -> None:
    many = [Finding("a.py", n, n, "warning", "bug", f"w{n}") for n in range(1, 16)]
    many += [Finding("a.py", n, n, "error", "bug", f"e{n}") for n in range(1, 4)]
    lines = render_report(report(*many), "github").splitlines()
    assert sum(line.startswith("::warning ") for line in lines) == GITHUB_CAP
    assert sum(line.startswith("::error ") for line in lines) == 3
    assert any("5 more finding(s) not annotated" in line for line in lines)


def test_markdown_summary() -> None:
    text = render_report(report(TRICKY, PLAIN, cached=True, dropped=2), "markdown")
    assert "**1 error(s), 0 warning(s), 1 note(s)**" in text
    assert "[`src/a b,c:d.py:3-5`](src/a%20b%2Cc%3Ad.py#L3-L5)" in text
    assert "name \\| pipe" in text
    assert COVERAGE.line() in text
    assert "<details>" in text and "2 finding(s) away" in text
    assert "No findings" in render_report(report(), "markdown")


def test_json_round_trip_and_unknown_format() -> None:
    data = json.loads(render_report(report(TRICKY), "json"))
    assert data["counts"] == {"error": 1, "warning": 0, "note": 0}
    assert data["findings"][0]["suggestion"] == "x = y or 0"
    with pytest.raises(UsageError):
        render_report(report(), "xml")
