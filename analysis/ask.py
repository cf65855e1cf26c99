"""The `ask` job: read the corpus, pack it for the served model, answer, check the citations.

The backend is built lazily where it is heavy (in-process vLLM): the model's tokenizer and identity
come from its directory, so a question already in the answer cache is answered without loading vLLM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longread.analysis.backends import open_backend
from longread.analysis.citations import Citation, CorpusIndex, check_citations
from longread.analysis.config import Settings
from longread.analysis.pack_job import read_and_pack
from longread.engine.answer import Answer, answer_questions
from longread.engine.answer_cache import AnswerCache
from longread.engine.backend import Backend, SamplingSettings
from longread.ingest.errors import UsageError
from longread.ingest.pack import Pack
from longread.ingest.progress import Progress, no_progress


@dataclass(frozen=True)
class CheckedAnswer:
    """An answer with each of its citations checked against the corpus."""

    answer: Answer
    citations: tuple[Citation, ...]

    @property
    def flagged(self) -> tuple[Citation, ...]:
        return tuple(citation for citation in self.citations if citation.status != "ok")

    def to_json(self) -> dict[str, Any]:
        return {**self.answer.to_json(), "citations": [c.to_json() for c in self.citations]}


@dataclass(frozen=True)
class AskResult:
    answers: tuple[CheckedAnswer, ...]
    pack: Pack
    model: str
    skipped: int

    def to_json(self) -> dict[str, Any]:
        return {
            "answers": [answer.to_json() for answer in self.answers],
            "pack": {
                "digest": self.pack.digest,
                "tokens": self.pack.tokens,
                "tokenizer": self.pack.manifest.tokenizer,
                "budget": self.pack.manifest.budget,
                "documents": len(self.pack.blocks),
                "skipped": self.skipped,
            },
            "model": self.model,
        }


def run_ask(
    settings: Settings,
    roots: Sequence[Path],
    questions: Sequence[str],
    *,
    budget: int | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    use_cache: bool = True,
    refresh: bool = False,
    progress: Progress = no_progress,
) -> AskResult:
    """Answer `questions` over the corpus under `roots`; citations checked, nothing unflagged."""
    questions = [q.strip() for q in questions if q.strip()]
    if not questions:
        raise UsageError("no question given: add one after the paths, or use -q/--questions")
    backend = open_backend(settings, progress)
    try:
        packed = read_and_pack(
            settings,
            roots,
            counter=backend.tokenizer,
            budget=budget,
            query=" ".join(questions),
            line_numbers=True,
            include=include,
            exclude=exclude,
            progress=progress,
        )
        pack = packed.pack
        answers = _answer(
            settings,
            pack,
            questions,
            backend,
            use_cache=use_cache,
            refresh=refresh,
            progress=progress,
        )
    finally:
        backend.close()
    index = CorpusIndex(packed.documents)
    checked = tuple(CheckedAnswer(a, tuple(check_citations(a.text, index))) for a in answers)
    return AskResult(checked, pack, backend.model, len(packed.skipped))


def _answer(
    settings: Settings,
    pack: Pack,
    questions: Sequence[str],
    backend: Backend,
    *,
    use_cache: bool,
    refresh: bool,
    progress: Progress,
) -> list[Answer]:
    sampling = SamplingSettings(max_tokens=settings.max_tokens, temperature=settings.temperature)
    if not use_cache:
        return answer_questions(pack, questions, backend, sampling=sampling, progress=progress)
    with AnswerCache(settings.answer_cache_path) as cache:
        return answer_questions(
            pack,
            questions,
            backend,
            cache=cache,
            sampling=sampling,
            refresh=refresh,
            progress=progress,
        )


def render_terminal(result: AskResult, console: Any) -> None:
    """Each answer as Markdown (rich), then its flagged citations; `console` is a rich Console."""
    from rich.markdown import Markdown
    from rich.rule import Rule

    for checked in result.answers:
        answer = checked.answer
        if len(result.answers) > 1:
            console.print(Rule(answer.question))
        console.print(Markdown(answer.text or "_(empty answer)_"))
        for citation in checked.flagged:
            console.print(
                f"[yellow]! {citation.raw}: {citation.status} — {citation.detail}[/]",
                highlight=False,
            )
        source = "answer cache" if answer.from_cache else f"{answer.seconds:.1f} s"
        shards = f", {answer.shards} shards" if answer.shards > 1 else ""
        console.print(
            f"[dim]{result.model}, {answer.prompt_tokens} prompt tokens "
            f"({answer.cached_tokens} cached), {source}{shards}[/]",
            highlight=False,
        )
