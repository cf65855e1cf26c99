"""The `longread` command: click code only — parse flags, build Settings, call one job, render."""

from __future__ import annotations

import sys

try:  # Ctrl-C while Python is still importing is one line and 130 too, not a traceback
    import json
    import signal
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    import click

    from longread.analysis.cli.admin import cache_group, models_group, plan_command
    from longread.analysis.cli.base import (
        TRUST_REMOTE_CONFIG,
        CorpusPath,
        Group,
        SettingOption,
        corpus_settings,
        engine_flags,
        importing,
        interrupted,
        settings_from,
        verbose_option,
    )
    from longread.analysis.cli.progress_bars import progress_bar
    from longread.analysis.jobs.findings import FAIL_ON
    from longread.analysis.jobs.report_formats import FORMATS
    from longread.ingest.document import skip_summary
    from longread.ingest.styles import FORMATS as PACK_FORMATS
except KeyboardInterrupt:
    sys.stderr.write("longread: interrupted\n")
    raise SystemExit(130) from None


def _interrupted_while_loading(_signum: int, _frame: object) -> None:
    """Ctrl-C while the commands below are still being built: one line and 130 as well."""
    sys.stderr.write("longread: interrupted\n")
    raise SystemExit(130)


def _swap_sigint(handler: Any) -> Any:
    try:
        return signal.signal(signal.SIGINT, handler)
    except ValueError:  # imported off the main thread: leave signals alone
        return None


_SIGINT_BEFORE = _swap_sigint(_interrupted_while_loading)  # restored at the end of this module

# Job modules are imported inside their commands: `--help`, `pack` and a cache-hit `ask` only pay
# for what they use (SQLAlchemy, tokenizers, the engine) — see benchmarks/bench_ask.py.


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]},
             params=[verbose_option()])
@click.option("--cache-dir", type=click.Path(file_okay=False),
              help="Cache folder [LONGREAD_CACHE_DIR].", cls=SettingOption,
              show_default="$XDG_CACHE_HOME/longread, else ~/.cache/longread")
@click.option("--cache-url", metavar="postgresql://USER@HOST/DB",
              help="Keep both caches in this PostgreSQL database instead, shared by every "
                   "runner (password: PGPASSWORD or ~/.pgpass) [LONGREAD_CACHE_URL].",
              cls=SettingOption, show_default="the SQLite files in the cache folder")
@click.version_option(package_name="longread")
@click.pass_context
def cli(ctx: click.Context, cache_dir: str | None, cache_url: str | None) -> None:
    """Answer questions over a whole corpus — a repository, a folder of PDFs, or both."""
    ctx.obj = {"cache_dir": cache_dir, "cache_url": cache_url}


def _report_skips(manifest: Any, hint: str) -> None:
    """One stderr line per run: how many files were left out, by reason ("skipped 3: 3 binary")."""
    reasons = [entry.reason or "" for entry in manifest.documents if entry.fidelity == "skipped"]
    if reasons:
        click.echo(f"longread: {skip_summary(reasons)} — see {hint}", err=True)


CORPUS_OPTIONS = (
    TRUST_REMOTE_CONFIG,
    click.option("--budget", type=int,
                 help="Fit the pack into this many tokens (default: all of it)."),
    click.option("--include", multiple=True, help="Only files matching this glob (repeatable)."),
    click.option("--exclude", multiple=True,
                 help="Leave out files matching this glob (repeatable)."),
)


def corpus_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--budget, --include, --exclude and --trust-remote-config: how every job chooses, fits
    and trusts its corpus."""
    for option in reversed(CORPUS_OPTIONS):
        command = option(command)
    return command


ENGINE_OPTIONS = (
    *engine_flags(),  # declared once, in engine/options.py
    click.option("--no-redact", "redact", flag_value=False, default=None,
                 help="Send secrets as they are (redacted by default)."),
)


def engine_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The backend, model, sampling and vLLM flags every job that calls a model shares."""
    for option in reversed(ENGINE_OPTIONS):
        command = option(command)
    return command


@cli.command("review", short_help="Review a change for CI: SARIF, rdjsonl, GitHub, Markdown.")
@click.option("--repo", type=click.Path(exists=True, file_okay=False, path_type=Path), default=".",
              help="The git repository to review (default: here).")
@click.option("--base", help="Base ref (default: merge-base with origin/HEAD, main or master).")
@click.option("--head", help="Head ref (default: HEAD).")
@click.option("--worktree", is_flag=True, help="Review the work tree (uncommitted changes too).")
@click.option("--diff", "diff_file", help="Review this unified diff file instead ('-' for stdin).")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default="markdown",
              show_default=True, help="Report format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report here (default: stdout).")
@click.option("--fail-on", type=click.Choice(FAIL_ON), default="error", show_default=True,
              help="Exit 10 when a finding reaches this severity; exit 4 when the review "
                   "did not run (no valid findings), unless 'never'.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the review cache.")
@engine_options
@click.pass_context
def review_command(ctx: click.Context, repo: Path, base: str | None, head: str | None,
                   worktree: bool, diff_file: str | None, fmt: str, output: Path | None,
                   fail_on: str, no_cache: bool, **engine_flags: Any) -> None:
    """Review a change (base..head or a diff) for CI: findings as SARIF, rdjsonl, GitHub, ..."""
    from longread.analysis import api
    from longread.analysis.cli.output import write_atomically
    from longread.analysis.jobs.findings import check_fail_on
    from longread.analysis.jobs.report_formats import render_report

    settings = settings_from(ctx, **engine_flags)
    with progress_bar() as progress:
        report = api.review(repo, base=base, head=head, worktree=worktree, diff=diff_file,
                            settings=settings, use_cache=not no_cache, progress=progress)
    text = render_report(report, fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_atomically(output, text)
    for warning in report.warnings:
        click.echo(f"longread: warning: {warning}", err=True)
    check_fail_on(report, fail_on)


@cli.command("ask", short_help="Answer questions over files, folders and repositories.")
@click.argument("args", nargs=-1, required=True, metavar="PATH... QUESTION")
@click.option("-q", "--question", "extra_questions", multiple=True,
              help="A question (repeatable); then every argument is a path.")
@click.option("--questions", "questions_file", type=click.File("r", encoding="utf-8"),
              help="A file of questions, one per line.")
@corpus_options
@engine_options
@click.option("--no-cache", is_flag=True, help="Neither read nor write the answer cache.")
@click.option("--refresh", is_flag=True, help="Answer again and overwrite cached answers.")
@click.option("--json", "as_json", is_flag=True, help="Print answers, citations and usage as JSON.")
@click.pass_context
def ask_command(ctx: click.Context, args: tuple[str, ...], extra_questions: tuple[str, ...],
                questions_file: Any, budget: int | None, include: tuple[str, ...],
                exclude: tuple[str, ...], no_cache: bool, refresh: bool, as_json: bool,
                trust_remote_config: bool, **engine_flags: Any) -> None:
    """Answer questions over PATH... : `longread ask PATH... "QUESTION"` or with -q/--questions."""
    with importing():
        from longread.analysis import api
        from longread.analysis.jobs.ask import read_questions

    questions = list(extra_questions)
    if questions_file is not None:
        try:
            questions += read_questions(questions_file.read())
        except UnicodeDecodeError as exc:
            raise click.UsageError(
                f"--questions {questions_file.name}: not UTF-8 text ({exc.reason})") from exc
    paths = list(args) if questions else list(args[:-1])
    questions = questions or list(args[-1:])
    if not paths:
        raise click.UsageError("give at least one PATH before the question")
    corpus, settings = corpus_settings(ctx, paths, include=include, exclude=exclude,
                                       trust_remote_config=trust_remote_config, **engine_flags)
    with progress_bar() as progress:
        result = api.ask(corpus, questions, budget=budget, settings=settings,
                         use_cache=not no_cache, refresh=refresh, progress=progress)
    _report_skips(result.pack.manifest, "longread pack --manifest")
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        _show_answers(result)


def _show_answers(result: Any) -> None:
    """Rendered by rich on a terminal; into a pipe or file, the Markdown as the model wrote it
    (flags and usage to stderr)."""
    from longread.analysis.cli.output import write_stdout
    from longread.analysis.jobs.ask import notes, render_terminal, to_markdown

    if sys.stdout.isatty():
        from rich.console import Console

        render_terminal(result, Console())
        return
    write_stdout(to_markdown(result))
    for line in notes(result):
        click.echo(line, err=True)


@cli.command("summarize", short_help="Summarize files, folders and repositories.")
@click.argument("paths", nargs=-1, required=True, type=CorpusPath())
@click.option("--focus", help="What the summary should concentrate on.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the summary and its coverage table (Markdown) here ('-': stdout).")
@click.option("--out", "out_alias", type=click.Path(dir_okay=False, allow_dash=True), hidden=True)
@corpus_options
@engine_options
@click.option("--no-cache", is_flag=True, help="Neither read nor write the answer cache.")
@click.option("--refresh", is_flag=True, help="Summarize again and overwrite cached results.")
@click.option("--json", "as_json", is_flag=True, help="Print summary, coverage and usage as JSON.")
@click.pass_context
def summarize_command(ctx: click.Context, paths: tuple[str, ...], focus: str | None,
                      output: str | None, out_alias: str | None, budget: int | None,
                      include: tuple[str, ...], exclude: tuple[str, ...], no_cache: bool,
                      refresh: bool, as_json: bool, trust_remote_config: bool,
                      **engine_flags: Any) -> None:
    """Summarize PATH... (PDFs, docs, repositories) and say which documents the summary covers."""
    from longread.analysis import api
    from longread.analysis.cli.output import STDOUT, write_atomically

    corpus, settings = corpus_settings(ctx, paths, include=include, exclude=exclude,
                                       trust_remote_config=trust_remote_config, **engine_flags)
    with progress_bar() as progress:
        result = api.summarize(corpus, focus=focus, budget=budget, settings=settings,
                               use_cache=not no_cache, refresh=refresh, progress=progress)
    _report_skips(result.pack.manifest, "the coverage table")
    out = output or out_alias
    if out is not None:
        write_atomically(out, result.to_markdown())
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    elif out is None and sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(result.to_markdown()))
    elif out is None:
        write_atomically(STDOUT, result.to_markdown())


@cli.command("pack", short_help="Pack files into one context pack within a token budget.")
@click.argument("paths", nargs=-1, required=True, type=CorpusPath())
@corpus_options
@click.option("--query", help="What the pack is for; ranks documents when not all fit in full.")
@click.option("--format", "fmt", type=click.Choice(PACK_FORMATS), default="xml", show_default=True,
              help="Pack format.")
@click.option("--line-numbers", is_flag=True, help="Prefix code and text lines with their numbers.")
@click.option("--tokenizer", help="cl100k (default), a model directory or a tokenizer.json.")
@click.option("--no-redact", is_flag=True, default=None,
              help="Keep secrets and secrets files in the pack (redacted by default).")
@click.option("--manifest", "manifest_file", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the manifest (JSON) here ('-' for stdout).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the pack here (default and '-': stdout).")
@click.option("--no-cache", is_flag=True,
              help="Neither read nor write the ingest cache (re-read and re-count everything).")
@click.option("--stats", is_flag=True, help="Print the largest documents and totals to stderr.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the manifest as JSON on stdout (the pack then only goes to --output).")
@click.pass_context
def pack_command(ctx: click.Context, paths: tuple[str, ...], budget: int | None, query: str | None,
                 fmt: str, line_numbers: bool, include: tuple[str, ...], exclude: tuple[str, ...],
                 tokenizer: str | None, no_redact: bool | None, manifest_file: str | None,
                 output: str | None, no_cache: bool, stats: bool, as_json: bool,
                 trust_remote_config: bool) -> None:
    """Pack PATH... into one context pack within --budget tokens, with a manifest.

    --query without --budget packs everything in full (nothing to rank), and says so on stderr.
    """
    from longread.analysis import api
    from longread.analysis.cli.output import STDOUT, write_all_atomically
    from longread.analysis.jobs.pack import render_stats

    if query and budget is None:
        click.echo("longread: warning: --query only ranks within a --budget; "
                   "without one every file is packed in full", err=True)
    corpus, settings = corpus_settings(ctx, paths, include=include, exclude=exclude,
                                       trust_remote_config=trust_remote_config,
                                       redact=False if no_redact else None)
    with progress_bar() as progress:
        pack = api.pack(corpus, budget=budget, query=query, fmt=fmt, line_numbers=line_numbers,
                        tokenizer=tokenizer, settings=settings, use_cache=not no_cache,
                        progress=progress)
    manifest = json.dumps(pack.manifest.to_json(), indent=2, ensure_ascii=False) + "\n"
    outputs: list[tuple[str, bytes | str]] = []
    if output is not None or not as_json:
        outputs.append((output or STDOUT, pack.data))
    if manifest_file is not None:
        outputs.append((manifest_file, manifest))
    if as_json:
        outputs.append((STDOUT, manifest))
    write_all_atomically(outputs)
    _report_skips(pack.manifest, "--manifest")
    if stats:
        from rich.console import Console

        render_stats(pack.manifest, Console(stderr=True))


@cli.command("mcp", short_help="Serve a corpus to agents over MCP (stdio).")
@click.argument("paths", nargs=-1, type=CorpusPath(exists=True))
@corpus_options
@engine_options
@click.pass_context
def mcp_command(ctx: click.Context, paths: tuple[str, ...], budget: int | None,
                include: tuple[str, ...], exclude: tuple[str, ...], trust_remote_config: bool,
                **engine_flags: Any) -> None:
    """Serve PATH... (default: here) to an MCP client over stdin/stdout: the tools pack, ask,
    read (follow a citation) and summarize, with one engine kept warm between calls."""
    from longread.analysis.mcp.server import serve_stdio

    corpus, settings = corpus_settings(ctx, list(paths) or ["."], include=include,
                                       exclude=exclude, trust_remote_config=trust_remote_config,
                                       **engine_flags)
    serve_stdio(corpus, settings=settings, budget=budget)


@cli.command("serve", short_help="Serve a page, a JSON API and MCP over HTTP for a corpus.")
@click.argument("paths", nargs=-1, type=CorpusPath(exists=True))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs a token.")
@click.option("--port", type=int, default=8080, show_default=True, help="Port to listen on.")
@click.option("--token", envvar="LONGREAD_SERVE_TOKEN",
              help="Secret of 16+ characters every request must carry (Authorization: Bearer; "
                   "the page: /?token=). Seen by ps: prefer the variable or --token-file "
                   "[LONGREAD_SERVE_TOKEN].")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the token from this file (its first line).")
@corpus_options
@engine_options
@click.pass_context
def serve_command(ctx: click.Context, paths: tuple[str, ...], host: str, port: int,
                  token: str | None, token_file: Path | None, budget: int | None,
                  include: tuple[str, ...], exclude: tuple[str, ...], trust_remote_config: bool,
                  **engine_flags: Any) -> None:
    """Serve PATH... (default: here) with one warm engine: the page with clickable citations and
    the token map, /api/ask, /api/summarize, /api/source, /api/pack and MCP at /mcp."""
    from longread.analysis.jobs.remote_paths import shown
    from longread.analysis.web.server import ServedCorpus, ServeOptions, WebServer, given_token

    corpus, settings = corpus_settings(ctx, list(paths) or ["."], include=include,
                                       exclude=exclude, trust_remote_config=trust_remote_config,
                                       **engine_flags)
    options = ServeOptions(corpus, host, port, given_token(token, token_file), budget)
    server = WebServer(ServedCorpus(settings, options))
    if ctx.get_parameter_source("token") is click.core.ParameterSource.COMMANDLINE:
        click.echo("longread: note: every user here can read --token in ps; "
                   "LONGREAD_SERVE_TOKEN or --token-file keeps it out", err=True)
    where = server.url + ("?token=…" if options.token else "")
    named = " ".join(shown(root, settings) for root in corpus.roots)
    click.echo(f"longread: serving {named} at {where} "
               "(Ctrl-C to stop)", err=True)
    server.run()


for _command in (cache_group, models_group, plan_command):
    cli.add_command(_command)


def main() -> None:
    """The console script; Ctrl-C outside a command's run (while parsing flags) is 130 too."""
    try:
        cli(prog_name="longread")
    except KeyboardInterrupt:
        interrupted()


if _SIGINT_BEFORE is not None:
    _swap_sigint(_SIGINT_BEFORE)

if __name__ == "__main__":
    main()
