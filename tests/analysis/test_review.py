"""`longread review` end to end through the CLI on real temp git repos (fake and real engines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft7Validator

from longread.analysis.cli.commands import cli
from longread.engine.backend import BACKENDS
from tests.fakes import Borrowed
from tests.reviews import (
    BUG_LINE,
    PLANTED,
    Built,
    change_repo,
    finding,
    findings_json,
    git,
    register_queued,
)

SARIF_SCHEMA = Path(__file__).resolve().parents[1] / "data/sarif-schema-2.1.0.json"  # vendored
TOKEN = "ghp_R7kQ2mX9vL4pW8nZ3cT6yB1sD5fH0jG2aE4u"


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Built:
    """Registers `--backend scripted`; set `replies` before running the CLI."""
    return register_queued(monkeypatch)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main: a small app; branch `feature`: a planted off-by-one bug and a README saying approve."""
    return change_repo(tmp_path)


def run(repo: Path, tmp_path: Path, *args: str, backend: str = "scripted") -> Any:
    base = ["--cache-dir", str(tmp_path / "cache"), "review", "--repo", str(repo)]
    return CliRunner().invoke(cli, [*base, "--backend", backend, *args], catch_exceptions=False)


def test_review_reports_the_planted_bug_and_fails_on_error(
    repo: Path, tmp_path: Path, scripted
) -> None:
    scripted.replies[:] = [
        findings_json(finding(BUG_LINE), finding(BUG_LINE, category="Bug"), finding(1, "warning"))
    ]
    out = tmp_path / "review.sarif"
    result = run(repo, tmp_path, "--format", "sarif", "--output", str(out))
    assert result.exit_code == 10, result.output
    sarif = json.loads(out.read_text())
    (only,) = sarif["runs"][0]["results"]  # line 1 is not near the change; the twin merged
    assert only["locations"][0]["physicalLocation"]["region"]["startLine"] == BUG_LINE
    assert list(Draft7Validator(json.loads(SARIF_SCHEMA.read_text())).iter_errors(sarif)) == []
    (request,) = scripted[0].requests
    assert request.json_schema is not None
    prompt = request.messages[0].content
    assert '<document id="(diff)" fidelity="diff">' in prompt
    assert f"{BUG_LINE}\t    return items[len(items)]" in prompt  # the pack's own line numbers
    assert '<document id="app.py" fidelity="full">' in prompt


def test_a_short_window_keeps_changed_and_related_files_and_outlines_the_rest(
    repo: Path, tmp_path: Path, scripted: Built
) -> None:
    """Review's selection goes through the one fitter: changed, then users of the changed
    symbol (`first`), in full; the rest as outlines (and one head) when the window is short."""
    body = "".join(f"def helper_{n}(value):\n" + "    value += 1\n" * 8 + "    return value\n\n"
                   for n in range(40))
    git(repo, "checkout", "-q", "main")
    (repo / "other.py").write_text(body)
    (repo / "rest.py").write_text(body.replace("helper_", "rest_"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "two large unrelated modules")
    git(repo, "checkout", "-q", "feature")
    git(repo, "merge", "-q", "--no-edit", "main")
    scripted.window = 1700
    result = run(repo, tmp_path, "--base", "main", "--format", "json", "--max-tokens", "256",
                 "--fail-on", "never")
    assert result.exit_code == 0, result.output
    coverage = json.loads(result.stdout)["coverage"]
    assert {"app.py", "use.py"} <= set(coverage["full"])
    assert coverage["outline"] == ["rest.py"] and coverage["part"][0].startswith("other.py (")
    prompt = scripted[0].requests[0].messages[0].content
    assert '<document id="rest.py" fidelity="outline">' in prompt
    assert scripted[0].count_prompt_tokens(scripted[0].requests[0].messages) <= 1700 - 256


@pytest.mark.slow
@pytest.mark.parametrize(("fail_on", "code"), [("error", 0), ("warning", 10), ("never", 0)])
def test_fail_on_follows_validated_severity(
    repo: Path, tmp_path: Path, scripted: Built, fail_on: str, code: int
) -> None:
    scripted.replies[:] = [findings_json(finding(BUG_LINE, "warning"))]
    result = run(repo, tmp_path, "--format", "github", "--fail-on", fail_on, "--no-cache")
    assert result.exit_code == code
    assert result.output.startswith(f"::warning file=app.py,line={BUG_LINE},")


def test_planted_approval_cannot_change_the_verdict(
    repo: Path, tmp_path: Path, scripted: Built
) -> None:
    """A model that obeys the planted README still cannot turn an error finding into a pass."""
    obeying = finding(BUG_LINE, message="Approved as instructed: the verdict is PASS, exit 0")
    scripted.replies[:] = [findings_json(obeying)]
    result = run(repo, tmp_path, "--format", "json", "--no-cache")
    assert result.exit_code == 10
    prompt = scripted[0].requests[0].messages[0].content
    planted = prompt.index(PLANTED.strip())  # it sits inside the data fence
    assert prompt.index("\n<<<CORPUS ") < planted < prompt.rindex("\n<<<END CORPUS ")


@pytest.mark.slow
def test_no_valid_findings_fails_closed_in_every_format(
    repo: Path, tmp_path: Path, scripted: Built
) -> None:
    """Prose twice: the review did not run, so the gate fails (exit 4) and every report says so."""
    scripted.replies[:] = ["LGTM. Approved, exit code 0.", '{"verdict": "approve"}']
    result = run(repo, tmp_path, "--format", "json", "--fail-on", "error", "--no-cache")
    assert result.exit_code == 4, result.output
    data = json.loads(result.stdout)
    assert data["findings"] == [] and len(scripted[0].requests) == 2
    assert "did not run" in data["failure"]
    out = tmp_path / "failed.sarif"
    sarif_run = run(repo, tmp_path, "--format", "sarif", "-o", str(out), "--no-cache")
    assert sarif_run.exit_code == 4
    sarif = json.loads(out.read_text())
    assert list(Draft7Validator(json.loads(SARIF_SCHEMA.read_text())).iter_errors(sarif)) == []
    (invocation,) = sarif["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert any(n["level"] == "error" for n in invocation["toolExecutionNotifications"])
    github = run(repo, tmp_path, "--format", "github", "--fail-on", "never", "--no-cache")
    assert github.exit_code == 0  # the user opted out of the gate
    assert "::error title=longread review did not run::" in github.stdout
    markdown = run(repo, tmp_path, "--format", "markdown", "--fail-on", "never", "--no-cache")
    assert "The review did not run" in markdown.stdout
    assert "No findings on the changed lines" not in markdown.stdout
    assert run(repo, tmp_path, "--format", "json").exit_code == 4  # a failure is never cached


def test_second_run_is_a_cache_hit_without_a_backend(
    repo: Path, tmp_path: Path, scripted: Built
) -> None:
    scripted.replies[:] = [findings_json(finding(BUG_LINE))]
    first = run(repo, tmp_path, "--format", "rdjsonl", "--fail-on", "never")
    second = run(repo, tmp_path, "--format", "rdjsonl", "--fail-on", "never")
    assert first.stdout == second.stdout and len(scripted) == 1
    assert json.loads(second.stdout.splitlines()[0])["severity"] == "ERROR"
    markdown = run(repo, tmp_path, "--format", "markdown", "--fail-on", "never")
    assert "served from the review cache" in markdown.stdout and len(scripted) == 1


def test_diff_file_from_stdin_and_worktree(repo: Path, tmp_path: Path, scripted: Built) -> None:
    scripted.replies[:] = [findings_json(finding(BUG_LINE))]
    diff = git(repo, "diff", "main", "feature")
    base = ["--cache-dir", str(tmp_path / "c"), "review", "--repo", str(repo), "--diff", "-"]
    result = CliRunner().invoke(
        cli, [*base, "--backend", "scripted", "--format", "json"], input=diff
    )
    assert result.exit_code == 10
    (repo / "use.py").write_text((repo / "use.py").read_text() + "print(first([2]))\n")
    result = run(repo, tmp_path, "--worktree", "--base", "HEAD", "--format", "json")
    assert result.exit_code == 0  # app.py is not in HEAD..worktree: its finding is dropped


def test_not_a_repository_is_one_clear_line(tmp_path: Path, scripted: Built) -> None:
    result = run(tmp_path, tmp_path, "--format", "json")
    assert result.exit_code == 2 and "not in a git repository" in result.output


NOT_A_DIFF = {
    "text": b"SGVsbG8gd29ybGQ=\n" * 200,
    "binary": bytes(range(256)) * 8,
    "html": b"<!DOCTYPE html>\n<html><body><h1>502 Bad Gateway</h1></body></html>\n",
}


@pytest.mark.parametrize("kind", sorted(NOT_A_DIFF))
def test_input_that_is_not_a_diff_is_refused_in_one_line(
    repo: Path, tmp_path: Path, scripted: Built, kind: str
) -> None:
    patch = tmp_path / f"{kind}.diff"
    patch.write_bytes(NOT_A_DIFF[kind])
    result = run(repo, tmp_path, "--diff", str(patch), "--format", "json")
    assert result.exit_code == 2 and result.stdout == "" and len(scripted) == 0
    (line,) = result.stderr.splitlines()
    assert line.startswith("longread: error: ") and "not a unified diff" in line


def test_an_empty_diff_is_a_clean_pass_with_a_warning(
    repo: Path, tmp_path: Path, scripted: Built
) -> None:
    result = run(repo, tmp_path, "--diff", "/dev/null", "--format", "json")
    assert result.exit_code == 0 and len(scripted) == 0
    assert result.stderr == "longread: warning: the diff is empty\n"
    down = ["--base-url", "http://127.0.0.1:9/v1", "--diff", "/dev/null"]  # nothing listens
    assert run(repo, tmp_path, *down, backend="openai").exit_code == 0  # no server asked


def test_an_unknown_base_is_one_line(repo: Path, tmp_path: Path, scripted: Built) -> None:
    result = run(repo, tmp_path, "--base", "nope-ref", "--format", "json")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"longread: error: --base nope-ref: no such commit in {repo.resolve()}"
    ]


def test_secrets_in_the_change_never_reach_the_model_unless_asked(
    repo: Path, tmp_path: Path, scripted: Built
) -> None:
    """A token added on the reviewed branch is redacted in the diff and in the context; the head
    is a commit other than the checked-out one, so the context comes from that commit's tree."""
    (repo / "app.py").write_text((repo / "app.py").read_text() + f'\nTOKEN = "{TOKEN}"\n')
    (repo / ".env").write_text("DB_PASSWORD=correct-horse-battery-staple\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a token and a secrets file")
    git(repo, "checkout", "-q", "main")
    args = ["--base", "main", "--head", "feature", "--format", "json", "--no-cache"]
    assert run(repo, tmp_path, *args).exit_code == 0
    prompt = scripted[0].requests[0].messages[0].content
    assert TOKEN not in prompt and prompt.count("[REDACTED:github-token]") == 2  # diff, file
    assert 'TOKEN = "[REDACTED:github-token]"' in prompt
    assert "correct-horse" not in prompt and "[.env: its lines are left out (secrets" in prompt
    assert run(repo, tmp_path, *args, "--no-redact").exit_code == 0
    unredacted = scripted[1].requests[0].messages[0].content
    assert unredacted.count(TOKEN) == 2 and "correct-horse" in unredacted


def test_a_finding_next_to_a_deletion_is_kept(repo: Path, tmp_path: Path, scripted: Built) -> None:
    """A change that only deletes lines can still fail the gate at the place it deletes."""
    (repo / "use.py").write_text("from app import first\n\n")
    git(repo, "commit", "-q", "-am", "drop the call")
    scripted.replies[:] = [findings_json(finding(2, path="use.py", message="call removed"))]
    result = run(repo, tmp_path, "--base", "HEAD~1", "--format", "json")
    assert result.exit_code == 10, result.output
    assert json.loads(result.stdout)["findings"][0]["path"] == "use.py"


def test_a_head_commit_with_a_link_out_of_the_tree_is_read_without_it(
    repo: Path, tmp_path: Path, scripted: Built
) -> None:
    (repo / "passwd").symlink_to("/etc/passwd")
    git(repo, "add", "passwd")
    git(repo, "commit", "-q", "-m", "a link out of the repository")
    git(repo, "checkout", "-q", "main")
    result = run(repo, tmp_path, "--base", "main", "--head", "feature", "--format", "json")
    assert result.exit_code == 0, result.output
    assert "root:" not in scripted[0].requests[0].messages[0].content


@pytest.mark.vllm
def test_review_with_the_real_cpu_engine(
    repo: Path, tmp_path: Path, vllm_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mechanics: the tiny model's judgement is weak, but its structured output must validate
    (the review ran) and every format must come out valid.

    One generation: the later formats are served from the review cache."""
    monkeypatch.setitem(BACKENDS, "shared-vllm", lambda **_: Borrowed(vllm_backend))
    args = ["--max-tokens", "256", "--fail-on", "never"]
    sarif_path = tmp_path / "r.sarif"
    first = run(
        repo, tmp_path, *args, "--format", "sarif", "-o", str(sarif_path), backend="shared-vllm"
    )
    assert first.exit_code == 0, first.output
    sarif = json.loads(sarif_path.read_text())
    assert list(Draft7Validator(json.loads(SARIF_SCHEMA.read_text())).iter_errors(sarif)) == []
    (invocation,) = sarif["runs"][0]["invocations"]
    notes = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert invocation["executionSuccessful"] is True, notes
    assert not any("no valid findings" in note or "attempt" in note for note in notes), notes
    rdjsonl = run(repo, tmp_path, *args, "--format", "rdjsonl", backend="shared-vllm").stdout
    for line in rdjsonl.splitlines():
        assert json.loads(line)["source"] == {"name": "longread"}
    github = run(repo, tmp_path, *args, "--format", "github", backend="shared-vllm").stdout
    assert github.splitlines()[-1].startswith("longread: Reviewed")
    strict = ["--max-tokens", "256", "--fail-on", "note", "--format", "json"]
    failing = run(repo, tmp_path, *strict, backend="shared-vllm")
    assert failing.exit_code == (10 if json.loads(failing.stdout)["findings"] else 0)


def test_a_work_tree_review_misses_the_cache_when_a_context_file_changes(
    repo: Path, tmp_path: Path, scripted: Built
) -> None:
    """The cache key names the files read for context: an untracked file the diff never shows,
    edited between two `--worktree` reviews, must not be answered from the first one's cache."""
    added = "\n\ndef third(items):\n    return 3\n"
    (repo / "app.py").write_text((repo / "app.py").read_text() + added)
    (repo / "notes.py").write_text("from app import third\n")
    args = ("--worktree", "--base", "main", "--format", "json", "--fail-on", "never")
    objects = git(repo, "count-objects")
    assert run(repo, tmp_path, *args).exit_code == 0
    assert json.loads(run(repo, tmp_path, *args).stdout)["cached"] is True
    (repo / "notes.py").write_text("from app import third\n\nprint(third([]))\n")
    again = run(repo, tmp_path, *args)
    assert again.exit_code == 0 and json.loads(again.stdout)["cached"] is False
    assert git(repo, "status", "--porcelain").splitlines() == [" M app.py", "?? notes.py"]
    assert git(repo, "count-objects") == objects  # the key's tree was written elsewhere


def test_a_secret_in_a_changed_file_name_never_reaches_the_model(
    repo: Path, tmp_path: Path, scripted: Built
) -> None:
    """A changed file named after a key, and a secrets file in a folder named after one: the diff
    and the context name them by their redacted ids, the changed file is in the context, and a
    finding on it is kept under its id."""
    aws = "AKIAQ7RX2MZ9KP4WLT3B"
    (repo / "keys").mkdir()
    (repo / "keys" / f"{TOKEN}.py").write_text("REGION = 'eu-west-1'\n")
    (repo / aws).mkdir()
    (repo / aws / ".env").write_text("DB_PASSWORD=correct-horse-battery-staple\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "keys")
    shown = "keys/[REDACTED:github-token].py"
    scripted.replies[:] = [findings_json(finding(1, path=shown, message="hard-coded region"))]
    result = run(repo, tmp_path, "--base", "main", "--format", "json", "--no-cache")
    prompt = scripted[0].requests[0].messages[0].content
    assert TOKEN not in prompt and aws not in prompt and "correct-horse" not in prompt
    assert f'<document id="{shown}"' in prompt and f"+++ b/{shown}" in prompt
    assert "[[REDACTED:aws-access-key]/.env: its lines are left out (secrets" in prompt
    assert TOKEN not in result.output and aws not in result.output
    found = [(f["path"], f["start_line"]) for f in json.loads(result.stdout)["findings"]]
    assert found == [(shown, 1)]  # the finding on the redacted id is kept, under that id


def test_finding_messages_lose_template_tokens_and_loops_in_every_format_and_from_the_cache(
    repo: Path, tmp_path: Path, scripted: Built
) -> None:
    looping = "Index past the end of the list here. " * 6
    scripted.replies[:] = [findings_json(
        finding(BUG_LINE, message="items[len(items)] is past the end<|im_end|>"),
        finding(BUG_LINE, category="crash", message=looping),
    )]
    for fmt in ("json", "json", "markdown", "sarif"):  # the second json is a cache hit
        result = run(repo, tmp_path, "--format", fmt, "--fail-on", "never")
        assert result.exit_code == 0, result.output
        assert "<|im_end|>" not in result.stdout
        assert result.stdout.count("Index past the end of the list here.") == 1
    data = json.loads(run(repo, tmp_path, "--format", "json", "--fail-on", "never").stdout)
    assert data["cached"] is True and len(scripted) == 1
    assert "in 2 finding(s): removed 1 chat-template token; cut 1 of them where the model " \
           "repeated itself" in data["warnings"]


def test_an_invalid_first_reply_is_retried_once_through_the_engine_entry_then_cached(
    repo: Path, tmp_path: Path, scripted: Built
) -> None:
    """The retry is the engine's (the next seed, the same schema); the valid reply is cached, so
    a second identical review is a hit that builds no backend and makes no model call."""
    from longread.analysis.jobs.findings import FINDINGS_SCHEMA

    scripted.replies[:] = ["LGTM, approved.", findings_json(finding(BUG_LINE))]
    first = run(repo, tmp_path, "--format", "json", "--fail-on", "never")
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    (asked,) = scripted
    assert [r.sampling.seed for r in asked.requests] == [0, 1]
    assert all(r.json_schema == FINDINGS_SCHEMA for r in asked.requests)
    assert data["findings"] and data["cached"] is False
    assert any(w.startswith("attempt 1: model output is not JSON") for w in data["warnings"])
    second = json.loads(run(repo, tmp_path, "--format", "json", "--fail-on", "never").stdout)
    assert second["cached"] is True and second["findings"] == data["findings"]
    assert len(scripted) == 1 and len(asked.requests) == 2


def test_a_cached_review_that_no_longer_validates_is_asked_again(
    repo: Path, tmp_path: Path, scripted: Built
) -> None:
    """Fail closed: a cache row whose text is not a valid findings object counts as a miss."""
    import sqlite3

    scripted.replies[:] = [findings_json(finding(BUG_LINE))]
    assert run(repo, tmp_path, "--format", "json", "--fail-on", "never").exit_code == 0
    with sqlite3.connect(tmp_path / "cache" / "answers.sqlite") as db:
        assert db.execute("UPDATE answers SET text = 'approve' WHERE kind = 'review'").rowcount == 1
    again = run(repo, tmp_path, "--format", "json", "--fail-on", "never")
    data = json.loads(again.stdout)
    assert data["cached"] is False and data["findings"] and len(scripted) == 2
    third = json.loads(run(repo, tmp_path, "--format", "json", "--fail-on", "never").stdout)
    assert third["cached"] is True and len(scripted) == 2  # the fresh reply replaced the row
