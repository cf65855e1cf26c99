"""`longread summarize`: one pass or map-reduce, and a coverage table that names every document."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from longread.analysis.cli.commands import cli
from longread.engine.backend import BACKENDS, ChatRequest, Completion
from tests.fakes import Borrowed, FakeBackend, register_scripted

_DOC_ID = re.compile(r'<document id="([^"]+)"')


class SummaryFake(FakeBackend):
    """One pass: cites the first document. Map: cites its shard's first document. Reduce: keeps
    only the first partial summary's citation, so the other shards' documents are merged away."""

    def _complete(self, request: ChatRequest) -> Completion:
        system = request.messages[0].content
        if system.startswith("Partial answers"):
            first = re.search(r"`([^`]+:1)`", system)
            text = f"Merged summary, see `{first.group(1)}`." if first else "Nothing."
        else:
            ids = _DOC_ID.findall(system)
            text = f"This part covers `{ids[0]}:1`." if ids else "NOT IN THIS PART"
        prompt = self.count_prompt_tokens(request.messages)
        return Completion(text, prompt, 0, self.tokenizer.count(text), 0.01, "stop")


@pytest.fixture
def summary_fake(monkeypatch: pytest.MonkeyPatch) -> list[SummaryFake]:
    built: list[SummaryFake] = []

    def factory(**options: Any) -> SummaryFake:
        built.append(SummaryFake(context_window=int(options.get("context_window", 8192))))
        return built[-1]

    monkeypatch.setitem(BACKENDS, "summary-fake", factory)
    return built


def _documents(root: Path, count: int, *, lines: int = 40) -> list[str]:
    root.mkdir()
    names = []
    for i in range(count):
        name = f"report-{i:02d}.md"
        body = "\n".join(f"Finding {i}.{j}: value {i * 100 + j}." for j in range(lines))
        (root / name).write_text(f"# Report {i}\n{body}\n", encoding="utf-8")
        names.append(name)
    (root / "scan.bin").write_bytes(b"\x00\x01binary")
    return names


def _summarize(tmp_path: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "summarize",
                                    "--backend", "summary-fake", *args])


def test_one_pass_summary_ends_with_a_coverage_table_naming_every_document(
    tmp_path: Path, summary_fake: list[SummaryFake]
) -> None:
    names = _documents(tmp_path / "docs", 3, lines=5)
    out = tmp_path / "summary.md"
    result = _summarize(tmp_path, str(tmp_path / "docs"), "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    table = text[text.index("## Coverage"):]
    for name in [*names, "scan.bin"]:
        assert f"`{name}`" in table
    assert f"| `{names[0]}` | cited |" in table
    assert f"| `{names[1]}` | not cited |" in table
    assert "| `scan.bin` | skipped | binary" in table
    assert len(summary_fake[0].requests) == 1


def test_past_the_window_shards_are_summarized_and_merged_away_documents_are_named(
    tmp_path: Path, summary_fake: list[SummaryFake], monkeypatch: pytest.MonkeyPatch
) -> None:
    names = _documents(tmp_path / "docs", 6)
    monkeypatch.setitem(BACKENDS, "summary-fake", _small_window(summary_fake))
    result = _summarize(tmp_path, str(tmp_path / "docs"), "--json", "--max-tokens", "64")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["shards"] > 2
    status = {row["path"]: row["status"] for row in data["coverage"]}
    assert set(status) == {*names, "scan.bin"}
    assert status[names[0]] == "cited"
    assert "merged away" in status.values()
    assert status["scan.bin"] == "skipped"
    again = _summarize(tmp_path, str(tmp_path / "docs"), "--json", "--max-tokens", "64")
    assert json.loads(again.stdout)["coverage"] == data["coverage"]
    assert json.loads(again.stdout)["summary"]["from_cache"] is True


def _small_window(built: list[SummaryFake]) -> Any:
    def factory(**_: Any) -> SummaryFake:
        built.append(SummaryFake(context_window=1200))
        return built[-1]

    return factory


def _cite_each_way(system: str) -> str:
    """Cites a wholly shown report with a quote it does not hold, another one rightly, and a
    report the pack listed by path only."""
    shown = _DOC_ID.findall(system)
    path_only = re.findall(r"^(report-\d+\.md) \[path\]$", system, re.M)
    return (f"Wrong quote: `{shown[0]}:2` \"no such finding\".\n"
            f"Right: `{shown[1]}:2` \"Finding 1.0\".\nUnseen: `{path_only[0]}:2`.\n")


def test_coverage_counts_only_citations_that_check_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, _cite_each_way)
    names = _documents(tmp_path / "docs", 6, lines=30)
    result = _summarize(tmp_path, str(tmp_path / "docs"), "--backend", "scripted", "--budget",
                        "900", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    status = {c["raw"]: c["status"] for c in data["citations"]}
    rows = {row["path"]: row["status"] for row in data["coverage"]}
    assert status[f"{names[0]}:2"] == "quote-not-found" and rows[names[0]] == "not cited"
    assert status[f"{names[1]}:2"] == "ok" and rows[names[1]] == "cited"
    [unseen] = [raw for raw, s in status.items() if s == "not-shown"]
    assert rows[unseen.split(":")[0]] == "path only"
    details = {row["path"]: row["detail"] for row in data["coverage"]}
    assert details[names[0]].endswith("cited, but no citation of it checks out")
    assert details[unseen.split(":")[0]].endswith("cited, but no citation of it checks out")
    assert list(rows.values()).count("cited") == 1


_SUMMARY = "The reports agree: `report-00.md:2` \"Finding 0.0\" — a line far longer than eighty " \
    "columns that rich would wrap.\n\n| report | finding |\n|---|---|\n| 0 | `value 0` |\n"


def test_output_flag_alias_and_pipe_all_give_the_same_markdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, lambda system: _SUMMARY)
    _documents(tmp_path / "docs", 2, lines=3)
    docs = str(tmp_path / "docs")
    piped = _summarize(tmp_path, docs, "--backend", "scripted")
    assert piped.exit_code == 0, piped.output
    assert piped.stdout.startswith(_SUMMARY) and "\n## Coverage\n\n| document |" in piped.stdout
    dash = _summarize(tmp_path, docs, "--backend", "scripted", "-o", "-")
    assert dash.stdout == piped.stdout
    for flag in ("-o", "--output", "--out"):
        target = tmp_path / f"summary{flag}.md"
        written = _summarize(tmp_path, docs, "--backend", "scripted", flag, str(target))
        assert written.exit_code == 0 and written.stdout == ""
        assert target.read_text(encoding="utf-8") == piped.stdout


def test_output_into_a_missing_folder_is_one_line_and_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_scripted(monkeypatch, lambda system: _SUMMARY)
    _documents(tmp_path / "docs", 1, lines=3)
    target = tmp_path / "missing" / "summary.md"
    result = _summarize(tmp_path, str(tmp_path / "docs"), "--backend", "scripted", "-o",
                        str(target))
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert result.stderr.count("longread: error: cannot write") == 1
    assert "Traceback" not in result.stderr and not target.parent.exists()


@pytest.mark.vllm
def test_summarize_pdfs_with_the_real_cpu_engine(
    tmp_path: Path, vllm_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mechanics with the real engine: a summary comes back and every PDF is in the table."""
    from tests.pdfs import encrypted_pdf_bytes, pdf_bytes

    docs = tmp_path / "pdfs"
    docs.mkdir()
    (docs / "budget.pdf").write_bytes(pdf_bytes(["Budget 2026: travel is cut by 10 percent."]))
    (docs / "hiring.pdf").write_bytes(pdf_bytes(["Hiring plan: two engineers in spring.", None]))
    (docs / "locked.pdf").write_bytes(encrypted_pdf_bytes(["secret"], user_password="pw"))
    monkeypatch.setitem(BACKENDS, "shared-vllm", lambda **_: Borrowed(vllm_backend))
    out = tmp_path / "summary.md"
    result = CliRunner().invoke(cli, ["--cache-dir", str(tmp_path / "cache"), "summarize",
                                      str(docs), "--backend", "shared-vllm", "--max-tokens", "96",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    summary, table = text.split("## Coverage", 1)
    assert summary.strip()
    for name in ("budget.pdf", "hiring.pdf", "locked.pdf"):
        assert f"`{name}`" in table
    assert "| `locked.pdf` | skipped | encrypted (password required) |" in table
