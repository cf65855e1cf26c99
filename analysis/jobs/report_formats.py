"""Review reports rendered for the tools CI feeds them to: Markdown for a pull-request comment,
JSON, SARIF 2.1.0 for code scanning, reviewdog's rdjsonl, and GitHub workflow-command annotations.

Every renderer takes the same ReviewReport and returns text; `render_report` picks one by name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from longread.analysis.jobs.findings import (
    Finding,
    ReviewReport,
    count_by_severity,
    sort_findings,
)
from longread.ingest.errors import UsageError

TOOL_NAME = "longread"
TOOL_URI = "https://github.com/longread/longread"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
GITHUB_CAP = 10  # GitHub shows at most 10 annotations of each type per step
_SARIF_LEVEL = {"error": "error", "warning": "warning", "note": "note"}
_RDJSON_SEVERITY = {"error": "ERROR", "warning": "WARNING", "note": "INFO"}
_GITHUB_COMMAND = {"error": "error", "warning": "warning", "note": "notice"}


def tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # ~40 ms: only when reporting

    try:
        return version("longread")
    except PackageNotFoundError:
        return "0.0.0"


def rule_id(category: str) -> str:
    """A SARIF/GitHub-safe rule id for a finding category."""
    return re.sub(r"[^a-z0-9]+", "-", category.lower()).strip("-") or "general"


def render_markdown(report: ReviewReport) -> str:
    """A pull-request comment: counts, a table of findings with links, coverage, details folded."""
    findings = sort_findings(report.findings)
    counts = count_by_severity(findings)
    summary = ", ".join(f"{n} {severity}(s)" for severity, n in counts.items())
    lines = [f"## {TOOL_NAME} review", "", f"**{summary}** · model `{report.model}`"]
    lines += ["", report.coverage.line(), ""]
    if report.failure is not None:
        lines.append(f"**The review did not run:** {_cell(report.failure)}.")
    elif findings:
        lines += ["| Severity | Location | Category | Message |", "| --- | --- | --- | --- |"]
        lines += [_markdown_row(finding) for finding in findings]
    else:
        lines.append("No findings on the changed lines.")
    lines += _markdown_details(report, findings)
    return "\n".join(lines) + "\n"


def _markdown_row(finding: Finding) -> str:
    where = f"{finding.path}:{_span(finding, '-')}"
    anchor = f"L{finding.start_line}" + (
        f"-L{finding.end_line}" if finding.end_line != finding.start_line else ""
    )
    link = f"[`{_cell(where)}`]({quote(finding.path)}#{anchor})"
    return f"| {finding.severity} | {link} | {_cell(finding.category)} | {_cell(finding.message)} |"


def _markdown_details(report: ReviewReport, findings: list[Finding]) -> list[str]:
    body = [
        f"- `{f.path}:{_span(f, '-')}`: {_cell(f.suggestion)}" for f in findings if f.suggestion
    ]
    body += [f"- warning: {_cell(w)}" for w in report.warnings]
    if report.dropped:
        body.append(f"- {report.dropped} finding(s) away from the changed lines were dropped")
    if report.cached:
        body.append("- served from the review cache")
    if not body:
        return []
    return ["", "<details><summary>Suggestions and notes</summary>", "", *body, "", "</details>"]


def _span(finding: Finding, sep: str) -> str:
    if finding.end_line == finding.start_line:
        return str(finding.start_line)
    return f"{finding.start_line}{sep}{finding.end_line}"


def _cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def render_json(report: ReviewReport) -> str:
    findings = sort_findings(report.findings)
    data = {
        "tool": {"name": TOOL_NAME, "version": tool_version()},
        "model": report.model,
        "cached": report.cached,
        "counts": count_by_severity(findings),
        "coverage": {
            "summary": report.coverage.line(),
            "full": list(report.coverage.full),
            "outline": list(report.coverage.outline),
            "omitted": list(report.coverage.omitted),
            "part": list(report.coverage.part),
        },
        "findings": [_finding_json(f) for f in findings],
        "dropped": report.dropped,
        "warnings": list(report.warnings),
        "failure": report.failure,
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _finding_json(finding: Finding) -> dict[str, Any]:
    data = {
        "path": finding.path,
        "start_line": finding.start_line,
        "end_line": finding.end_line,
        "severity": finding.severity,
        "category": finding.category,
        "message": finding.message,
        "fingerprint": finding.fingerprint,
    }
    if finding.suggestion:
        data["suggestion"] = finding.suggestion
    return data


def render_sarif(report: ReviewReport) -> str:
    """SARIF 2.1.0: one rule per category, results with stable partial fingerprints."""
    findings = sort_findings(report.findings)
    rules = sorted({rule_id(f.category): f.category for f in findings}.items())
    index = {rid: position for position, (rid, _) in enumerate(rules)}
    driver = {
        "name": TOOL_NAME,
        "version": tool_version(),
        "informationUri": TOOL_URI,
        "rules": [
            {"id": rid, "name": rid, "shortDescription": {"text": f"{category} (model review)"}}
            for rid, category in rules
        ],
    }
    run = {
        "tool": {"driver": driver},
        "invocations": [_sarif_invocation(report)],
        "results": [_sarif_result(f, index[rule_id(f.category)]) for f in findings],
    }
    sarif = {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(sarif, indent=2, ensure_ascii=False) + "\n"


def _sarif_invocation(report: ReviewReport) -> dict[str, Any]:
    notes = [{"level": "warning", "message": {"text": w}} for w in report.warnings]
    if report.failure is not None:
        notes.append({"level": "error", "message": {"text": report.failure}})
    notes.append({"level": "note", "message": {"text": report.coverage.line()}})
    return {"executionSuccessful": report.failure is None, "toolExecutionNotifications": notes}


def _sarif_result(finding: Finding, rule_index: int) -> dict[str, Any]:
    text = finding.message
    if finding.suggestion:
        text += f"\n\nSuggestion: {finding.suggestion}"
    region = {"startLine": finding.start_line, "endLine": finding.end_line}
    return {
        "ruleId": rule_id(finding.category),
        "ruleIndex": rule_index,
        "level": _SARIF_LEVEL[finding.severity],
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": quote(finding.path), "uriBaseId": "%SRCROOT%"},
                    "region": region,
                }
            }
        ],
        "partialFingerprints": {"longreadFindingHash/v1": finding.fingerprint},
    }


def render_rdjsonl(report: ReviewReport) -> str:
    """reviewdog's rdjsonl: one diagnostic object per line."""
    lines = [json.dumps(_rdjson(f), ensure_ascii=False) for f in sort_findings(report.findings)]
    return "".join(line + "\n" for line in lines)


def _rdjson(finding: Finding) -> dict[str, Any]:
    span = {"start": {"line": finding.start_line}, "end": {"line": finding.end_line}}
    data: dict[str, Any] = {
        "message": finding.message,
        "location": {"path": finding.path, "range": span},
        "severity": _RDJSON_SEVERITY[finding.severity],
        "source": {"name": TOOL_NAME},
        "code": {"value": rule_id(finding.category)},
    }
    if finding.suggestion:
        data["suggestions"] = [{"range": span, "text": finding.suggestion}]
    return data


def render_github(report: ReviewReport) -> str:
    """Workflow commands, at most GITHUB_CAP per type (the step's cap), then one summary line."""
    shown: list[str] = []
    hidden = 0
    for severity, command in _GITHUB_COMMAND.items():
        of_kind = [f for f in sort_findings(report.findings) if f.severity == severity]
        shown += [_github_line(command, f) for f in of_kind[:GITHUB_CAP]]
        hidden += max(0, len(of_kind) - GITHUB_CAP)
    if hidden:
        shown.append(
            f"{TOOL_NAME}: {hidden} more finding(s) not annotated "
            f"(GitHub shows {GITHUB_CAP} per type per step); see the full report"
        )
    if report.failure is not None:
        title = _escape_property(f"{TOOL_NAME} review did not run")
        shown.append(f"::error title={title}::{_escape_data(report.failure)}")
    shown.append(f"{TOOL_NAME}: {report.coverage.line()}")
    return "".join(line + "\n" for line in shown)


def _github_line(command: str, finding: Finding) -> str:
    properties = {
        "file": finding.path,
        "line": str(finding.start_line),
        "endLine": str(finding.end_line),
        "title": f"{TOOL_NAME} {rule_id(finding.category)}",
    }
    text = finding.message
    if finding.suggestion:
        text += f"\n\nSuggestion: {finding.suggestion}"
    joined = ",".join(f"{key}={_escape_property(value)}" for key, value in properties.items())
    return f"::{command} {joined}::{_escape_data(text)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


FORMATS: dict[str, Callable[[ReviewReport], str]] = {
    "markdown": render_markdown,
    "json": render_json,
    "sarif": render_sarif,
    "rdjsonl": render_rdjsonl,
    "github": render_github,
}


def render_report(report: ReviewReport, fmt: str) -> str:
    try:
        renderer = FORMATS[fmt]
    except KeyError as exc:
        raise UsageError(f"unknown review format {fmt!r}: one of {', '.join(FORMATS)}") from exc
    return renderer(report)
