"""longread as a library: pack, ask, summarize and review a corpus, and read its documents back.

The CLI, the MCP server and the web server all call these functions; each one calls the same job
function the CLI always called, with keyword-only options and a Settings built the way the CLI
builds it (arguments > LONGREAD_* environment > longread.toml > defaults; see `make_settings`).
Errors are the one `LongreadError` tree (`longread.ingest.errors`): catch it, read `exit_code`.

    from longread.analysis import api

    settings = api.make_settings(backend="openai", base_url="http://127.0.0.1:8000/v1")
    result = api.ask("path/to/repo", "Where are the notes stored?", settings=settings)
    for checked in result.answers:
        print(checked.answer.text)
        for citation in checked.citations:  # each one checked against what the model saw
            print(citation.raw, citation.status)
    source = api.read_source("path/to/repo", "app/store.py", start_line=10, end_line=20)
    print(source.to_text())  # "10\\t..." lines, redacted as the pack showed them

A process that answers many questions keeps one engine warm: open it once with `open_backend`,
pass it as `backend=` to `ask`, `summarize` and `review` (they leave it open), close it at the end.
A server (`longread serve`, `longread mcp`) holds a `Corpus`: one corpus, one session lent to one
job at a time (`WarmBackend`), one `CorpusSource`; the page, the JSON API and MCP call only it.

The corpus is `paths` with `include`/`exclude` globs beside it, or one `CorpusSpec` holding its
local roots and globs together (what the MCP and web servers keep and pass on).

Job modules are imported on first use, so `import longread.analysis.api` stays cheap; the result
types are importable from here all the same (`api.AskResult`, `api.Citation`, ...).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, TypeVar

from longread.analysis import arguments
from longread.analysis.config import Settings, check_setting_names, load_settings
from longread.analysis.jobs.sources import MAX_LINES, CorpusSource, NotInCorpus, SourceLines
from longread.engine.errors import BackendUnavailable
from longread.ingest.corpus_spec import CorpusSpec
from longread.ingest.errors import UsageError
from longread.ingest.progress import Progress, no_progress

if TYPE_CHECKING:
    from longread.analysis.jobs.ask import AskResult, CheckedAnswer
    from longread.analysis.jobs.citations import Citation
    from longread.analysis.jobs.findings import Finding, ReviewReport
    from longread.analysis.jobs.summarize import CoverageRow, SummaryResult
    from longread.engine.answer import Answer
    from longread.engine.backend import Backend
    from longread.ingest.pack import Manifest, Pack

__all__ = [
    "MAX_LINES",
    "Answer",
    "AskResult",
    "Backend",
    "CheckedAnswer",
    "Citation",
    "Corpus",
    "CorpusSource",
    "CorpusSpec",
    "CoverageRow",
    "Finding",
    "Manifest",
    "NotInCorpus",
    "Pack",
    "ReviewReport",
    "Settings",
    "SourceLines",
    "SummaryResult",
    "WarmBackend",
    "ask",
    "make_settings",
    "open_backend",
    "pack",
    "read_source",
    "review",
    "summarize",
]

_log = logging.getLogger(__name__)

_LAZY_TYPES = {
    "Answer": "longread.engine.answer",
    "AskResult": "longread.analysis.jobs.ask",
    "Backend": "longread.engine.backend",
    "CheckedAnswer": "longread.analysis.jobs.ask",
    "Citation": "longread.analysis.jobs.citations",
    "CoverageRow": "longread.analysis.jobs.summarize",
    "Finding": "longread.analysis.jobs.findings",
    "Manifest": "longread.ingest.pack",
    "Pack": "longread.ingest.pack",
    "ReviewReport": "longread.analysis.jobs.findings",
    "SummaryResult": "longread.analysis.jobs.summarize",
}

Paths = str | Path | Sequence[str | Path]
T = TypeVar("T")


def __getattr__(name: str) -> Any:
    """The result types, imported from their job modules on first use (PEP 562)."""
    if name in _LAZY_TYPES:
        return getattr(importlib.import_module(_LAZY_TYPES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_settings(**flags: Any) -> Settings:
    """Settings as the CLI resolves them: these values (None: not given) over LONGREAD_*, the
    config file of the working directory, and the defaults. Unknown config keys are logged; an
    unknown name here (`backendd=`, `no_redact=`) is a UsageError, never a silent default."""
    check_setting_names(flags)
    return load_settings(flags, warn=_log.warning)


def _patterns(include: Sequence[str], exclude: Sequence[str]) -> tuple[list[str], list[str]]:
    """Glob patterns: a list of them, or one as a str (not its characters one by one)."""
    return arguments.texts(include, "include"), arguments.texts(exclude, "exclude")


def open_backend(settings: Settings | None = None, progress: Progress = no_progress) -> Backend:
    """The backend `settings` name, opened lazily (no engine start until a question misses the
    cache); pass it as `backend=` to several calls to keep it warm, and close it when done."""
    from longread.analysis.engine_settings import open_backend as open_lazily

    return open_lazily(settings or make_settings(), progress)


class WarmBackend:
    """ONE backend session for the life of a server (engine.session.Session: its identity worked
    out once, its engine started on the first cache miss), lent to one job at a time (an engine
    and its caches are not shared between threads), so vLLM's prefix cache serves every later
    question over the same pack. Progress goes to the job that runs now."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._session: Backend | None = None
        self._progress: Progress = no_progress

    def run(self, job: Callable[[Backend], T], progress: Progress = no_progress) -> T:
        """`job(session)` with the warm session, after any job already running."""
        with self._lock:
            self._progress = progress
            try:
                if self._session is None:
                    self._session = open_backend(self.settings, self._relay)
                return job(self._session)
            except BackendUnavailable:  # the engine died: the next job opens a fresh session
                self._stop()  # (identity too: a restarted server may serve another model)
                self._session = None
                raise
            finally:
                self._progress = no_progress

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        if self._session is not None:
            self._session.close()

    def _relay(self, stage: str, done: int, total: int | None) -> None:
        """The backend keeps the callback it was opened with; this one reaches the current job."""
        self._progress(stage, done, total)


def pack(
    paths: Paths | CorpusSpec,
    *,
    budget: int | None = None,
    query: str | None = None,
    fmt: str = "xml",
    line_numbers: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    tokenizer: str | None = None,
    settings: Settings | None = None,
    use_cache: bool = True,
    progress: Progress = no_progress,
) -> Pack:
    """The context pack of the files under `paths` (text in `.text`, manifest in `.manifest`),
    within `budget` tokens of `tokenizer` (cl100k by default) when a budget is given."""
    wanted = _wanted(paths, include, exclude)
    budget = arguments.optional_int(budget, "budget")
    query = arguments.optional_text(query, "query")
    from longread.analysis.jobs.pack import run_pack

    settings = settings or make_settings()
    return run_pack(
        settings, wanted(settings), budget=budget, query=query,
        fmt=fmt, line_numbers=line_numbers, tokenizer_spec=tokenizer, use_cache=use_cache,
        progress=progress,
    )


def ask(
    paths: Paths | CorpusSpec,
    questions: str | Sequence[str],
    *,
    budget: int | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    settings: Settings | None = None,
    backend: Backend | None = None,
    use_cache: bool = True,
    refresh: bool = False,
    progress: Progress = no_progress,
) -> AskResult:
    """Answer one question or several over the corpus; every citation checked against the pack.

    `backend`: an open backend (see `open_backend`) to use and leave open.
    """
    wanted = _wanted(paths, include, exclude)
    questions = arguments.texts(questions, "questions")
    budget = arguments.optional_int(budget, "budget")
    from longread.analysis.jobs.ask import run_ask

    asked = [questions] if isinstance(questions, str) else list(questions)
    settings = settings or make_settings()
    return run_ask(
        settings, wanted(settings), asked, budget=budget,
        use_cache=use_cache, refresh=refresh, progress=progress, backend=backend,
    )


def summarize(
    paths: Paths | CorpusSpec,
    *,
    focus: str | None = None,
    budget: int | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    settings: Settings | None = None,
    backend: Backend | None = None,
    use_cache: bool = True,
    refresh: bool = False,
    progress: Progress = no_progress,
) -> SummaryResult:
    """One summary of the corpus (optionally with a focus) and a coverage row per document."""
    wanted = _wanted(paths, include, exclude)
    focus = arguments.optional_text(focus, "focus")
    budget = arguments.optional_int(budget, "budget")
    from longread.analysis.jobs.summarize import run_summarize

    settings = settings or make_settings()
    return run_summarize(
        settings, wanted(settings), focus=focus, budget=budget,
        use_cache=use_cache, refresh=refresh, progress=progress, backend=backend,
    )


def review(
    repo: str | Path = ".",
    *,
    base: str | None = None,
    head: str | None = None,
    worktree: bool = False,
    diff: str | None = None,
    settings: Settings | None = None,
    backend: Backend | None = None,
    use_cache: bool = True,
    progress: Progress = no_progress,
) -> ReviewReport:
    """Review base..head of `repo` (or the work tree, or a unified diff file; '-' is stdin):
    findings near the changed lines, what the model saw, and whether the review ran."""
    from longread.analysis.jobs.review import ReviewInputs, run_review

    inputs = ReviewInputs(Path(repo), base, head, diff, worktree)
    return run_review(settings or make_settings(), inputs, use_cache=use_cache, progress=progress,
                      backend=backend)


def read_source(
    corpus: Paths | CorpusSpec,
    path: str | PurePath,
    start_line: int | None = None,
    end_line: int | None = None,
    page: int | None = None,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    settings: Settings | None = None,
    place: str | None = None,
) -> SourceLines:
    """Lines `start_line`..`end_line` (1-based, inclusive; default all) of the corpus document
    `path`, or of its page `page` for a PDF, or of its `place` as a citation writes it after "#"
    (`p=12`, `install`; ingest/places.py): the redacted text the pack shows, never the file.

    `path` is a citable id of the corpus (as `path:line` names it); it is looked up among the
    documents the pack is made of, so nothing else can be read — not `..`, not an absolute path,
    not a symlink out of the corpus, not a secrets file — and NotInCorpus says why.
    A caller that reads many keeps one `CorpusSource` instead: it reads the corpus once and
    again only when a file changed.
    """
    wanted = _wanted(corpus, include, exclude, "corpus")
    path = arguments.document_id(path)
    start_line, end_line, page = (arguments.optional_int(value, name) for value, name in (
        (start_line, "start_line"), (end_line, "end_line"), (page, "page")))
    settings = settings or make_settings()
    return CorpusSource(wanted(settings), settings=settings).read(path, start_line, end_line, page,
                                                                  place=place)


def _wanted(paths: Paths | CorpusSpec, include: Sequence[str], exclude: Sequence[str],
            name: str = "paths") -> Callable[[Settings], CorpusSpec]:
    """The corpus a caller names, checked at the door: `paths` with the globs beside it, or a
    CorpusSpec holding both; resolved to the one CorpusSpec a job is given once the settings are
    known (a git URL string, `URL[@ref]`, is fetched into the cache; its own config file is never
    applied here)."""
    from longread.analysis.jobs.remote_paths import resolve_paths

    if isinstance(paths, CorpusSpec):
        if include or exclude:
            raise UsageError("give include and exclude in the CorpusSpec, not beside it")
        globs = _patterns(paths.include, paths.exclude)
        spec = CorpusSpec.of(paths.roots, *globs, max_file_bytes=paths.max_file_bytes)
        return lambda settings: spec
    roots = arguments.roots(paths, name)
    include, exclude = _patterns(include, exclude)
    return lambda settings: CorpusSpec.of(resolve_paths(roots, settings), include, exclude)


class Corpus:
    """One corpus served to many requests: its CorpusSpec and budget fixed, ONE warm session
    (`WarmBackend`) and ONE `CorpusSource` (read once, again when a file changes). Each method is
    the function of the same name above with the corpus's options; `sharing` gives a view on
    another engine."""

    def __init__(self, corpus: CorpusSpec, *, settings: Settings, budget: int | None = None,
                 engine: WarmBackend | None = None, sources: CorpusSource | None = None) -> None:
        self.spec, self.settings, self.budget = corpus, settings, budget
        self.engine = engine or WarmBackend(settings)
        self.sources = sources or CorpusSource(corpus, settings=settings)

    def sharing(self, engine: WarmBackend) -> Corpus:
        """This corpus and its sources, its jobs run through `engine` (a queue in front)."""
        return Corpus(self.spec, settings=self.settings, budget=self.budget, engine=engine,
                      sources=self.sources)

    def ask(self, questions: str | Sequence[str], *, budget: int | None = None,
            progress: Progress = no_progress) -> AskResult:
        budget = self.budget if budget is None else budget
        return self.engine.run(lambda backend: ask(
            self.spec, questions, budget=budget, settings=self.settings, backend=backend,
            progress=progress), progress)

    def summarize(self, focus: str | None = None, *,
                  progress: Progress = no_progress) -> SummaryResult:
        return self.engine.run(lambda backend: summarize(
            self.spec, focus=focus, budget=self.budget, settings=self.settings, backend=backend,
            progress=progress), progress)

    def pack(self, budget: int | None = None, query: str | None = None, *,
             progress: Progress = no_progress) -> Pack:
        """The pack in cl100k tokens, lines numbered (no engine needed)."""
        budget = self.budget if budget is None else budget
        return pack(self.spec, budget=budget, query=query, line_numbers=True,
                    settings=self.settings, progress=progress)

    def model_pack(self) -> Pack:
        """The pack a question would get, counted with the model's tokenizer (the same for every
        question unless a budget makes the ranking matter)."""
        from longread.analysis.jobs.pack import read_and_pack

        return self.engine.run(lambda backend: read_and_pack(
            self.settings, self.spec, counter=backend.tokenizer, budget=self.budget,
            line_numbers=True)).pack

    def read(self, path: str, start_line: int | None = None, end_line: int | None = None,
             page: int | None = None, place: str | None = None) -> SourceLines:
        """As `read_source`, at most MAX_LINES a call (`next_start` says where the rest is)."""
        return self.sources.read(path, start_line, end_line, page, limit=MAX_LINES, place=place)

    def close(self) -> None:
        self.engine.close()
