"""Review findings: the JSON schema the model answers under, validation, the changed-line filter,
merging of duplicates, and the `--fail-on` verdict.

The verdict is computed here from validated findings only, so nothing a reviewed file or the
model writes in prose can change the exit code's mechanics.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from longread.analysis.jobs.diff import Diff
from longread.engine.errors import EngineError
from longread.ingest.errors import LongreadError, UsageError

Severity = Literal["error", "warning", "note"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "note")
FAIL_ON = ("error", "warning", "note", "never")
NEAR_CHANGE = 3  # a finding survives within this many lines of an added line
MAX_FINDINGS = 20

FINDINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "findings": {
            "type": "array",
            "maxItems": MAX_FINDINGS,
            "items": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "start_line": {"type": "integer", "minimum": 1},
                    "end_line": {"type": "integer", "minimum": 1},
                    "severity": {"type": "string", "enum": list(SEVERITIES)},
                    "category": {"type": "string"},
                    "message": {"type": "string"},
                    "suggestion": {"type": "string"},
                },
                "required": ["path", "start_line", "end_line", "severity", "category", "message"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["findings"],
    "additionalProperties": False,
}


@functools.cache
def _validator() -> Any:
    """Built on first use: jsonschema costs ~0.15 s to import, which `--help` should not pay."""
    from jsonschema import Draft7Validator

    return Draft7Validator(FINDINGS_SCHEMA)


class FindingsFailed(LongreadError):
    """`review --fail-on` tripped: the report is written, then the CLI exits with this code."""

    exit_code = 10


class ReviewFailed(EngineError):
    """The model never gave valid findings: a gate must not pass on a review that did not run."""


@dataclass(frozen=True)
class Finding:
    path: str
    start_line: int
    end_line: int
    severity: Severity
    category: str
    message: str
    suggestion: str | None = None

    @property
    def fingerprint(self) -> str:
        """Stable across pushes that only move the code: path, category and message, no lines."""
        words = " ".join(self.message.lower().split())
        return hashlib.sha256(f"{self.path}\0{self.category}\0{words}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Coverage:
    """Which files the model saw in full, in part, as an outline, or not at all."""

    full: tuple[str, ...] = ()
    outline: tuple[str, ...] = ()
    omitted: tuple[str, ...] = ()
    part: tuple[str, ...] = ()  # "path (lines a-b)": the head the fitter had room for

    def line(self) -> str:
        return (
            f"Reviewed {len(self.full)} file(s) in full, {len(self.part)} in part, "
            f"{len(self.outline)} as outline, {len(self.omitted)} not at all."
        )


@dataclass(frozen=True)
class ReviewReport:
    """What every output format renders: the surviving findings and how they were reached."""

    findings: tuple[Finding, ...]
    coverage: Coverage
    model: str
    warnings: tuple[str, ...] = ()
    cached: bool = False
    dropped: int = 0  # findings the model gave that were not near a changed line
    failure: str | None = None  # why the review did not run; None when it did


def parse_findings(text: str) -> tuple[list[Finding], str | None]:
    """Findings from the model's JSON, or ([], why) when it does not validate."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        return [], f"model output is not JSON: {exc}"
    errors = sorted(_validator().iter_errors(data), key=lambda error: list(error.path))
    if errors:
        where = "/".join(str(part) for part in errors[0].path) or "(top)"
        return (
            [],
            f"model output does not match the findings schema at {where}: {errors[0].message}",
        )
    return [_finding(item) for item in data["findings"]], None


def _finding(item: dict[str, Any]) -> Finding:
    start, end = item["start_line"], item["end_line"]
    return Finding(
        path=item["path"].strip(),
        start_line=min(start, end),
        end_line=max(start, end),
        severity=item["severity"],
        category=" ".join(item["category"].split()).lower() or "general",
        message=item["message"].strip(),
        suggestion=item.get("suggestion") or None,
    )


def keep_near_changes(
    findings: Iterable[Finding], diff: Diff, aliases: Mapping[str, str] | None = None
) -> list[Finding]:
    """Only findings within NEAR_CHANGE lines of a line the diff adds to that file, or of
    the place where it deletes lines (so a deletion-only change can be reviewed too).
    `aliases` maps a redacted id the model saw to the diff's path; such a finding keeps the id."""
    kept = []
    for finding in findings:
        path = _diff_path(finding.path, diff)
        alias = (aliases or {}).get(path)
        changed = diff.file(path) or (diff.file(alias) if alias else None)
        if changed is None:
            continue
        low, high = finding.start_line - NEAR_CHANGE, finding.end_line + NEAR_CHANGE
        if any(low <= line <= high for line in changed.changed_positions):
            kept.append(replace(finding, path=path if alias else changed.path))
    return kept


def _diff_path(path: str, diff: Diff) -> str:
    """Models cite `./x`, `a/x` or `b/x`; map those onto the diff's own path when they match."""
    for prefix in ("./", "b/", "a/", "/"):
        if path.startswith(prefix) and diff.file(path) is None:
            path = path[len(prefix) :]
    return path


def merge_duplicates(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (path, category, overlapping lines); the most severe message wins."""
    merged: list[Finding] = []
    for finding in sort_findings(findings):
        twin = next((seen for seen in merged if _overlaps(seen, finding)), None)
        if twin is None:
            merged.append(finding)
            continue
        merged[merged.index(twin)] = replace(
            twin,
            start_line=min(twin.start_line, finding.start_line),
            end_line=max(twin.end_line, finding.end_line),
            suggestion=twin.suggestion or finding.suggestion,
        )
    return sort_findings(merged)


def _overlaps(a: Finding, b: Finding) -> bool:
    same = a.path == b.path and a.category == b.category
    return same and a.start_line <= b.end_line and b.start_line <= a.end_line


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then by place: the order every format shows them in."""
    return sorted(
        findings, key=lambda f: (SEVERITIES.index(f.severity), f.path, f.start_line, f.message)
    )


def count_by_severity(findings: Sequence[Finding]) -> dict[Severity, int]:
    return {severity: sum(f.severity == severity for f in findings) for severity in SEVERITIES}


def failing(findings: Sequence[Finding], fail_on: str) -> list[Finding]:
    """The findings at or above the `--fail-on` threshold (none for "never")."""
    if fail_on not in FAIL_ON:
        raise UsageError(f"--fail-on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
    if fail_on == "never":
        return []
    threshold = SEVERITIES.index(fail_on)  # type: ignore[arg-type]
    return [f for f in findings if SEVERITIES.index(f.severity) <= threshold]


def check_fail_on(report: ReviewReport, fail_on: str) -> None:
    """Raise ReviewFailed when the review did not run (unless "never"), FindingsFailed when
    any validated finding reaches the threshold."""
    tripped = failing(report.findings, fail_on)
    if report.failure is not None and fail_on != "never":
        raise ReviewFailed(f"{report.failure} (--fail-on never lets the job pass anyway)")
    if tripped:
        raise FindingsFailed(
            f"{len(tripped)} finding(s) at or above --fail-on {fail_on} "
            f"(first: {tripped[0].path}:{tripped[0].start_line} {tripped[0].message[:80]})"
        )
