"""`longread review`: a pull request's diff, reviewed by the model under a findings schema.

The context is built by ingest's one pipeline (reader, redaction, outline cache, fitter, renderer),
exactly as for `pack` and `ask`; review differs only in what it puts first (the changed files, then
the files that use their changed symbols, then the rest, which the fitter shows as outlines when the
window is short) and in its prompt. The diff is redacted by the same step as the pack. Results are
cached by (diff, trees, model, prompt, sampling, redaction). The model is reached through the
engine's one entry (engine/fanout.py: cache, generate, validate or retry once, cache) with the
session every job uses (engine/session.py), and the prompt is the engine's (engine/prompt.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path

from longread.analysis.config import Settings
from longread.analysis.engine_settings import open_backend
from longread.analysis.jobs.change import (
    Change,
    ReviewInputs,
    context_tree,
    new_side,
    resolve_change,
)
from longread.analysis.jobs.diff import FileDiff, file_texts
from longread.analysis.jobs.findings import (
    FINDINGS_SCHEMA,
    Coverage,
    Finding,
    ReviewReport,
    keep_near_changes,
    merge_duplicates,
    parse_findings,
)
from longread.analysis.jobs.pack import pipeline_versions, read_and_pack
from longread.engine.answer_cache import AnswerCache
from longread.engine.backend import Backend, SamplingSettings
from longread.engine.cleanup import clean, summed_notes
from longread.engine.errors import PromptTooLong
from longread.engine.fanout import Request, Result, cache_key, cached, generate_cached
from longread.engine.prompt import review_messages, review_prompt_version
from longread.engine.session import borrowed
from longread.ingest.corpus_spec import CorpusSpec
from longread.ingest.document import Document
from longread.ingest.fidelity import FULL, OUTLINE
from longread.ingest.lines import split_lines
from longread.ingest.outline import extract_outline
from longread.ingest.pack import Pack
from longread.ingest.progress import Progress, no_progress
from longread.ingest.redact import redact_paths, redact_text
from longread.ingest.secret_files import is_secret_file

__all__ = ["ReviewInputs", "review", "run_review"]

CHANGED, RELATED = 2.0, 1.0  # selection scores: above every unscored document (0)
_PROMPT_MARGIN = 64  # tokens kept free for chat-template differences
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{2,}$")  # shorter names match too much to select by
NO_FINDINGS = "the model gave no valid findings after a retry: the review did not run"
# Follows the prompt's text and the findings schema, so editing either expires cached reviews.
REVIEW_PROMPT_VERSION = review_prompt_version(FINDINGS_SCHEMA)


def changed_symbols(change: Change, documents: Sequence[Document]) -> set[str]:
    """Names of the definitions that enclose an added line of a changed file."""
    names: set[str] = set()
    by_path = {document.path: document for document in documents}
    ids = _ids(change)
    for item in change.diff.files:
        document = by_path.get(item.path) or by_path.get(ids[item.path])
        if document is None or document.language is None or document.kind != "code":
            continue
        added = item.added_lines
        for symbol in extract_outline(document.text, document.language).symbols:
            if any(symbol.line <= line <= symbol.end_line for line in added):
                names.add(symbol.name)
    return {name for name in names if _NAME.match(name)}


def review_priority(change: Change) -> Callable[[Sequence[Document]], Mapping[str, float]]:
    """The fitter's order for a review: changed files, then files naming a changed symbol."""

    def scores(documents: Sequence[Document]) -> Mapping[str, float]:
        ids = _ids(change)
        changed = {name for item in change.diff.files if not item.binary
                   for name in (item.path, ids[item.path])}
        names = changed_symbols(change, documents)
        uses = re.compile(r"\b(" + "|".join(map(re.escape, sorted(names))) + r")\b")
        related = {
            document.path
            for document in documents
            if names and document.path not in changed and uses.search(document.text)
        }
        return {path: RELATED for path in related} | {
            document.path: CHANGED for document in documents if document.path in changed
        }

    return scores


def _ids(change: Change) -> dict[str, str]:
    """Each changed file's path as a redacted pack names it (a name may hold a secret)."""
    return redact_paths([item.path for item in change.diff.files])


def redact_diff(change: Change) -> str:
    """The diff as the model may see it: each file's part redacted as that file is in the pack
    (its path picks the detectors); a secrets file's lines are left out, as the pack skips it."""
    parts = []
    for item, text in file_texts(change.diff_text, change.diff):
        reason = None if item is None else is_secret_file(item.path)
        if item is not None and reason is not None:
            parts.append(_headers_only(item, text, reason))
        else:
            parts.append(redact_text(text, path="change.diff" if item is None else item.path)[0])
    return "".join(parts)


def _headers_only(item: FileDiff, text: str, reason: str) -> str:
    """A secrets file's part of the diff: its header lines, then one line saying why no more."""
    lines = split_lines(text, keepends=True)
    hunk = next((n for n, line in enumerate(lines) if line.startswith("@@ ")), len(lines))
    head = redact_text("".join(lines[:hunk]), path=item.path)[0]  # a name may hold a secret
    head += "" if head.endswith("\n") else "\n"
    shown = redact_paths([item.path])[item.path]
    return f"{head}[{shown}: its lines are left out ({reason})]\n"


def review(
    settings: Settings,
    inputs: ReviewInputs,
    backend: Backend,
    *,
    cache: AnswerCache | None = None,
    sampling: SamplingSettings | None = None,
    progress: Progress = no_progress,
) -> ReviewReport:
    """Review one change; a cache hit returns without starting the engine."""
    sampling = sampling or SamplingSettings()
    change = resolve_change(inputs)
    if not change.diff.files:
        return _report(change, [], Coverage(), "(not asked)", ["the diff is empty"], cached=False)
    model = str(backend.identity().get("model", ""))  # the identity's: a hit starts no engine
    shown = replace(change, diff_text=redact_diff(change)) if settings.redact else change
    key = review_key(settings, change, shown, backend, sampling)
    if (hit := cached(cache, key, findings_error)) is not None:
        findings, _ = parse_findings(hit.text)
        coverage = Coverage(**{k: tuple(v) for k, v in hit.meta.get("coverage", {}).items()})
        return _report(change, findings, coverage, model, [], cached=True)
    progress("reviewing", 0, 1)
    result, coverage = _review_fresh(settings, shown, key, backend, cache, sampling, progress)
    progress("reviewing", 1, 1)
    findings = [] if result.completion is None else parse_findings(result.completion.text)[0]
    warnings = [*result.errors, *change.diff.errors]
    failure = NO_FINDINGS if result.completion is None else None
    return _report(change, findings, coverage, model, warnings, cached=False, failure=failure)


def review_key(
    settings: Settings, change: Change, shown: Change, backend: Backend,
    sampling: SamplingSettings,
) -> str:
    """Everything that shapes a review: the diff as shown, the trees, model, prompt, sampling,
    redaction and the ingest versions (the pack is made only on a miss, so not its digest)."""
    extra = {"base_tree": change.base_tree, "context": context_tree(change),
             "redact": settings.redact, "ingest": pipeline_versions()}
    return cache_key("review", shown.digest, "review", backend, sampling, extra,
                     prompt_version=REVIEW_PROMPT_VERSION)


def findings_error(text: str) -> str | None:
    """Why a reply is not a valid findings object, or None."""
    return parse_findings(text)[1]


def _review_fresh(
    settings: Settings,
    change: Change,
    key: str,
    backend: Backend,
    cache: AnswerCache | None,
    sampling: SamplingSettings,
    progress: Progress,
) -> tuple[Result, Coverage]:
    """The context packed for the window, then one request through the engine's entry."""
    budget = _context_budget(backend, change.diff_text, sampling)
    with new_side(change) as folder:
        pack = _context_pack(settings, change, folder, backend, budget, progress, cache is not None)
    coverage = Coverage() if pack is None else _coverage(pack)
    messages = review_messages(change.diff_text, "" if pack is None else pack.text)
    request = Request(key, messages, kind="review", json_schema=FINDINGS_SCHEMA,
                      check=findings_error, meta={"coverage": asdict(coverage)})
    (result,) = generate_cached([request], backend, cache=cache, sampling=sampling)
    return result, coverage


def _context_budget(backend: Backend, diff: str, sampling: SamplingSettings) -> int:
    """Tokens left for the pack once the prompt, the diff and the answer have their share."""
    prompt = backend.count_prompt_tokens(review_messages(diff, ""))
    budget = backend.context_window - sampling.max_tokens - prompt - _PROMPT_MARGIN
    if budget <= 0:
        raise PromptTooLong(
            f"the diff alone takes {prompt:,} prompt tokens; with {sampling.max_tokens:,} for the "
            f"answer it does not fit the model's {backend.context_window:,}-token window"
        )
    return budget


def _context_pack(
    settings: Settings,
    change: Change,
    folder: Path | None,
    backend: Backend,
    budget: int,
    progress: Progress,
    use_cache: bool,
) -> Pack | None:
    """The new side packed by ingest within `budget`, in review's order; None without a tree.
    Without the answer cache (`--no-cache`) the ingest cache is left alone too."""
    if folder is None:
        return None
    return read_and_pack(
        settings,
        CorpusSpec.of([folder]),
        counter=backend.tokenizer,
        budget=budget,
        line_numbers=True,
        progress=progress,
        priority=review_priority(change),
        use_cache=use_cache,
    ).pack


def _coverage(pack: Pack) -> Coverage:
    """What the model saw of each file, from the pack's manifest."""
    entries = pack.manifest.documents
    full = {e.path for e in entries if e.fidelity == FULL and e.part is None}
    part = {e.path: f"{e.path} ({e.part})" for e in entries if e.fidelity == FULL and e.part}
    outline = {e.path for e in entries if e.fidelity == OUTLINE}
    omitted = {e.path for e in entries} - full - set(part) - outline
    return Coverage(
        tuple(sorted(full)),
        tuple(sorted(outline)),
        tuple(sorted(omitted)),
        tuple(sorted(part.values())),
    )


def _report(
    change: Change,
    findings: list[Finding],
    coverage: Coverage,
    model: str,
    warnings: list[str],
    *,
    cached: bool,
    failure: str | None = None,
) -> ReviewReport:
    findings, cleaning = clean_findings(findings)
    aliases = {shown: path for path, shown in _ids(change).items() if shown != path}
    near = keep_near_changes(findings, change.diff, aliases)
    merged = merge_duplicates(near)
    return ReviewReport(
        tuple(merged),
        coverage,
        model,
        tuple(warnings) + cleaning,
        cached,
        dropped=len(findings) - len(near),
        failure=failure,
    )


def clean_findings(findings: Sequence[Finding]) -> tuple[list[Finding], tuple[str, ...]]:
    """Each finding's message and suggestion through the one cleaning step, as every model
    output goes (a cache hit too: the cache holds the raw JSON); a note says what it removed.
    A hit never opens the engine, so the tokens are the cleaner's known list on either path."""
    instructions = review_messages("", "")
    cleaned, parts = [], []
    for finding in findings:
        message = clean(finding.message, instructions)
        suggestion = clean(finding.suggestion, instructions) if finding.suggestion else None
        parts += [message, *([suggestion] if suggestion else [])]
        cleaned.append(replace(finding, message=message.text or finding.category,
                               suggestion=None if suggestion is None else suggestion.text or None))
    return cleaned, summed_notes(parts, f"in {len(findings)} finding(s)")


def run_review(
    settings: Settings,
    inputs: ReviewInputs,
    *,
    use_cache: bool = True,
    progress: Progress = no_progress,
    backend: Backend | None = None,
) -> ReviewReport:
    """The CLI's entry: session, sampling and cache from settings, then `review`.
    `backend`: an open session to use and leave open, as for `run_ask`."""
    sampling = SamplingSettings(max_tokens=settings.max_tokens, temperature=settings.temperature)
    with borrowed(backend, lambda: open_backend(settings, progress)) as session:
        if not use_cache:
            return review(settings, inputs, session, sampling=sampling, progress=progress)
        with AnswerCache(settings.answer_cache) as cache:
            return review(settings, inputs, session, cache=cache, sampling=sampling,
                          progress=progress)
