"""The `summarize` job: one summary of a large document set, and what it covers.

One pass when the set fits the window; otherwise the engine's map-reduce summarizes each shard
with citations and merges the partial summaries level by level, citations kept. The coverage
table names every input document: cited in the summary, cited only in a partial summary that the
merge dropped ("merged away"), in the pack but never cited, or left out and why. Only citations
that check out (status ok: the model saw the cited place, see citations.py) count as covering.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from longread.analysis.config import Settings
from longread.analysis.engine_settings import open_backend
from longread.analysis.jobs.citations import Citation, CorpusIndex, check_citations
from longread.analysis.jobs.pack import read_and_pack
from longread.engine.answer import Answer, answer_questions
from longread.engine.answer_cache import AnswerCache
from longread.engine.backend import Backend, SamplingSettings
from longread.engine.prompt import summary_question
from longread.engine.session import borrowed
from longread.ingest.corpus_spec import CorpusSpec
from longread.ingest.pack import Pack
from longread.ingest.progress import Progress, no_progress

CITED, MERGED_AWAY, NOT_CITED = "cited", "merged away", "not cited"


@dataclass(frozen=True)
class CoverageRow:
    path: str
    status: str  # cited | merged away | not cited | path only | skipped
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class SummaryResult:
    summary: Answer
    citations: tuple[Citation, ...]
    coverage: tuple[CoverageRow, ...]
    pack: Pack
    model: str

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary.to_json(),
            "citations": [citation.to_json() for citation in self.citations],
            "coverage": [row.to_json() for row in self.coverage],
            "pack": {"digest": self.pack.digest, "tokens": self.pack.tokens},
            "model": self.model,
        }

    def to_markdown(self) -> str:
        """The summary, then the coverage table (what a user keeps with --out)."""
        lines = [self.summary.text.strip(), *_notes(self.summary.notes), "", "## Coverage", "",
                 "| document | status | detail |", "|---|---|---|"]
        lines += [f"| `{_cell(r.path)}` | {r.status} | {_cell(r.detail)} |" for r in self.coverage]
        counts = _counts(self.coverage)
        lines += ["", ", ".join(f"{n} {status}" for status, n in counts.items()) + "."]
        flagged = [c for c in self.citations if c.status != "ok"]
        if flagged:
            lines += ["", "Citations that do not check out:"]
            lines += [f"- `{c.raw}`: {c.status} ({c.detail})" for c in flagged]
        return "\n".join(lines) + "\n"


def run_summarize(
    settings: Settings,
    corpus: CorpusSpec,
    *,
    focus: str | None = None,
    budget: int | None = None,
    use_cache: bool = True,
    refresh: bool = False,
    progress: Progress = no_progress,
    backend: Backend | None = None,
) -> SummaryResult:
    """Summarize the corpus's documents (optionally with a focus) and account for each.

    `backend`: an open backend to use and leave open, as for `run_ask`.
    """
    question = summary_question(focus)
    sampling = SamplingSettings(max_tokens=settings.max_tokens, temperature=settings.temperature)
    with borrowed(backend, lambda: open_backend(settings, progress)) as session:
        packed = read_and_pack(settings, corpus, counter=session.tokenizer, budget=budget,
                               query=focus, line_numbers=True, use_cache=use_cache,
                               progress=progress)
        with AnswerCache(settings.answer_cache) if use_cache else nullcontext() as cache:
            summary = answer_questions(packed.pack, [question], session, cache=cache,
                                       sampling=sampling, refresh=refresh, progress=progress)[0]
        model = session.model
    index = CorpusIndex.of_pack(packed.documents, packed.pack)
    citations = tuple(check_citations(summary.text, index))
    coverage = coverage_rows(packed.pack, index, citations, summary.partials)
    return SummaryResult(summary, citations, coverage, packed.pack, model)


def coverage_rows(
    pack: Pack, index: CorpusIndex, citations: Iterable[Citation], partials: Sequence[str]
) -> tuple[CoverageRow, ...]:
    """One row per document of the manifest, in path order; a document cited only by citations
    that do not check out is not covered, and its row says so."""
    citations = tuple(citations)
    cited = _cited_paths(citations)
    miscited = {c.path for c in citations if c.status not in ("ok", "unknown-path")}
    in_partials = _cited_paths(c for text in partials for c in check_citations(text, index))
    rows = []
    for entry in pack.manifest.documents:
        if entry.fidelity == "skipped":
            rows.append(CoverageRow(entry.path, "skipped", entry.reason or ""))
        elif entry.path in cited:
            rows.append(CoverageRow(entry.path, CITED))
        elif entry.fidelity == "path":
            detail = "listed by name only (over budget)" + _miscited(entry.path, miscited)
            rows.append(CoverageRow(entry.path, "path only", detail))
        elif entry.path in in_partials:
            rows.append(CoverageRow(entry.path, MERGED_AWAY,
                                    "cited in a partial summary, dropped when merging"))
        else:
            detail = f"in the pack ({entry.fidelity})" + _miscited(entry.path, miscited)
            rows.append(CoverageRow(entry.path, NOT_CITED, detail))
    return tuple(rows)


def _miscited(path: str, miscited: set[str]) -> str:
    return "; cited, but no citation of it checks out" if path in miscited else ""


def _cited_paths(citations: Iterable[Citation]) -> set[str]:
    """Paths cited by citations that check out (a checked citation carries its resolved path)."""
    return {citation.path for citation in citations if citation.status == "ok"}


def _counts(rows: Iterable[CoverageRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


def _notes(notes: Sequence[str]) -> list[str]:
    """What cleaning removed from the summary or cut, as a quoted block after it."""
    return ["", *(f"> longread: {note}" for note in notes)] if notes else []


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
