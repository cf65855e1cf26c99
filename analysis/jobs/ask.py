"""The `ask` job: read the corpus, pack it for the served model, answer, check the citations.

The backend is built lazily where it is heavy (in-process vLLM): the model's tokenizer and identity
come from its directory, so a question already in the answer cache is answered without loading vLLM.
Citations are checked against what the pack showed the model (see jobs/shown.py). On a
terminal the answer is rendered by rich; into a pipe or file it is the Markdown the model wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from longread.analysis.config import Settings
from longread.analysis.engine_settings import open_backend
from longread.analysis.jobs.citations import Citation, CorpusIndex, check_citations
from longread.analysis.jobs.pack import read_and_pack
from longread.engine.answer import Answer, answer_questions
from longread.engine.answer_cache import AnswerCache
from longread.engine.backend import Backend, SamplingSettings
from longread.engine.session import borrowed
from longread.ingest.corpus_spec import CorpusSpec
from longread.ingest.errors import UsageError
from longread.ingest.lines import split_lines
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


def read_questions(text: str) -> list[str]:
    """The questions of a --questions file, one a line; blank lines and `# comment` lines are
    not questions."""
    lines = (line.strip() for line in split_lines(text))
    return [line for line in lines if line and not line.startswith("#")]


def run_ask(
    settings: Settings,
    corpus: CorpusSpec,
    questions: Sequence[str],
    *,
    budget: int | None = None,
    use_cache: bool = True,
    refresh: bool = False,
    progress: Progress = no_progress,
    backend: Backend | None = None,
) -> AskResult:
    """Answer `questions` over the corpus; citations checked, nothing unflagged.

    `backend`: an open backend to use and leave open (a server keeps one warm across questions);
    by default one is opened from `settings` and closed at the end.
    """
    questions = [q.strip() for q in questions if q.strip()]
    if not questions:
        raise UsageError("no question given", cli="no question given: add one after the paths, "
                         "or use -q/--questions")
    with borrowed(backend, lambda: open_backend(settings, progress)) as session:
        packed = read_and_pack(
            settings,
            corpus,
            counter=session.tokenizer,
            budget=budget,
            query=" ".join(questions),
            line_numbers=True,
            use_cache=use_cache,
            progress=progress,
        )
        pack = packed.pack
        answers = _answer(
            settings,
            pack,
            questions,
            session,
            use_cache=use_cache,
            refresh=refresh,
            progress=progress,
        )
        model = session.model
    index = CorpusIndex.of_pack(packed.documents, pack)
    checked = tuple(CheckedAnswer(a, tuple(check_citations(a.text, index))) for a in answers)
    return AskResult(checked, pack, model, len(packed.skipped))


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
    with AnswerCache(settings.answer_cache) as cache:
        return answer_questions(
            pack,
            questions,
            backend,
            cache=cache,
            sampling=sampling,
            refresh=refresh,
            progress=progress,
        )


def to_markdown(result: AskResult) -> str:
    """The answers exactly as the model wrote them (under a `## question` heading when there are
    several): what a pipe or a file gets."""
    if len(result.answers) == 1:
        return _ends_newline(result.answers[0].answer.text)
    return "\n".join(
        f"## {checked.answer.question}\n\n{_ends_newline(checked.answer.text)}"
        for checked in result.answers
    )


def notes(result: AskResult) -> list[str]:
    """The flagged citations, what cleaning removed or cut, and the usage line of each answer,
    as plain lines (for stderr)."""
    lines: list[str] = []
    for checked in result.answers:
        lines += [_flag_line(citation) for citation in checked.flagged]
        lines += [_cleaning_line(note) for note in checked.answer.notes]
        lines.append(_usage_line(result.model, checked.answer))
    return lines


def _cleaning_line(note: str) -> str:
    return f"longread: {note}"


def _flag_line(citation: Citation) -> str:
    return f"! {citation.raw}: {citation.status} — {citation.detail}"


def _usage_line(model: str, answer: Answer) -> str:
    source = "answer cache" if answer.from_cache else f"{answer.seconds:.1f} s"
    shards = f", {answer.shards} shards" if answer.shards > 1 else ""
    tokens = f"{answer.prompt_tokens} prompt tokens ({answer.cached_tokens} cached)"
    return f"{model}, {tokens}, {source}{shards}"


def _ends_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def render_terminal(result: AskResult, console: Any) -> None:
    """Each answer as Markdown (rich), then its flagged citations; `console` is a rich Console."""
    from rich.markdown import Markdown
    from rich.markup import escape
    from rich.rule import Rule

    for checked in result.answers:
        answer = checked.answer
        if len(result.answers) > 1:
            console.print(Rule(answer.question))
        console.print(Markdown(answer.text or "_(empty answer)_"))
        for citation in checked.flagged:
            console.print(f"[yellow]{escape(_flag_line(citation))}[/]", highlight=False)
        for note in answer.notes:
            console.print(f"[yellow]{escape(_cleaning_line(note))}[/]", highlight=False)
        console.print(f"[dim]{escape(_usage_line(result.model, answer))}[/]", highlight=False)
