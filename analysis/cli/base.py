"""The click machinery every longread command shares, kept out of the commands themselves.

Every error a user can cause ends as one stderr line and an exit code (LongreadError's, 2 for
click's usage errors, 130 Ctrl-C, 141 a closed pipe); `-v` is accepted before and after the
subcommand; flags show their setting's default in --help; settings resolve once per command.
"""

from __future__ import annotations

import dataclasses
import errno
import gc
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from longread.analysis.config import Settings, load_settings
from longread.engine.options import declared, env_var, flag_name, spec_of
from longread.ingest.corpus_spec import CorpusSpec
from longread.ingest.errors import LongreadError


class Group(click.Group):
    """Turns every LongreadError into one line on stderr and its exit code; never a traceback.

    Ctrl-C exits 130; a closed pipe (`longread pack | head`) exits 141 (SIGPIPE's code) silently.
    """

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line(exc) from None
        except LongreadError as exc:
            click.echo(f"longread: error: {exc.cli or exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            interrupted()
        except BrokenPipeError:
            _silence_stdout()
            sys.exit(141)
        except OSError as exc:  # stdout on a full or failing device (`> /dev/full`)
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
                raise
            _silence_stdout()
            click.echo(f"longread: error: cannot write to stdout: {exc.strerror}", err=True)
            sys.exit(2)


class _UsageLine(click.UsageError):
    """click's usage errors (bad flag, bad value, unknown command) as one line like every other
    error, naming where the help is; exit 2."""

    def show(self, file: Any = None) -> None:
        where = f" (see '{self.ctx.command_path} --help')" if self.ctx else ""
        click.echo(f"longread: error: {self.message}{where}", err=True)


def _one_line(exc: click.UsageError) -> click.UsageError:
    if isinstance(exc, _UsageLine | click.exceptions.NoArgsIsHelpError):  # bare `longread`: help
        return exc
    return _UsageLine(exc.format_message(), exc.ctx)


def _remember_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta["longread.verbose"] = True


def verbose_option() -> click.Option:
    """-v/--verbose, accepted before and after the subcommand (`longread -v pack`, `pack -v`)."""
    return click.Option(["-v", "--verbose"], is_flag=True, expose_value=False,
                        callback=_remember_verbose, help="Log what happens to stderr.")


class Command(click.Command):
    """Every subcommand: takes -v too, and sets up logging once its own flags are parsed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(verbose_option())

    def invoke(self, ctx: click.Context) -> Any:
        from longread.analysis.logs import setup_logging

        verbose = bool(ctx.meta.get("longread.verbose"))
        ctx.call_on_close(setup_logging(settings_from(ctx).cache_dir, verbose=verbose))
        return super().invoke(ctx)


Group.command_class = Command
Group.group_class = type


def interrupted() -> None:
    sys.stderr.write("longread: interrupted\n")
    sys.exit(130)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's flush at exit does not complain about the pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (click's test runner)
        pass


class SettingOption(click.Option):
    """A flag whose help shows its setting's default (`[default: vllm]`) while its value stays
    None when not given, so LONGREAD_* and the config file still come before the default."""

    def get_help_extra(self, ctx: click.Context) -> Any:
        extra = super().get_help_extra(ctx)
        if isinstance(self.show_default, str):
            extra["default"] = self.show_default
        return extra


def settings_from(ctx: click.Context, *, trusted_dirs: Sequence[Path] = (),
                  **flags: Any) -> Settings:
    """Settings for one command: its own flags over the group's, environment, file, defaults."""
    merged = {**(ctx.obj or {}), **flags}
    return load_settings(merged, warn=lambda message: _warn_once(ctx, message),
                         trusted_dirs=trusted_dirs)


def corpus_settings(ctx: click.Context, paths: Sequence[str], *, include: Sequence[str],
                    exclude: Sequence[str], trust_remote_config: bool,
                    **flags: Any) -> tuple[CorpusSpec, Settings]:
    """The command's corpus (git URLs fetched into the cache, with its --include and --exclude)
    and its Settings; a fetched repository's own config file counts only with
    --trust-remote-config, and never moves the caches (the folder its checkout is in, or the
    user's database) elsewhere."""
    from longread.analysis.jobs.remote_paths import remote_roots, resolve_paths

    settings = settings_from(ctx, **flags)
    roots = resolve_paths(paths, settings)
    trusted = remote_roots(roots, settings) if trust_remote_config else []
    if trusted:
        pinned = {"cache_dir": settings.cache_dir, "cache_url": settings.cache_url}
        settings = settings_from(ctx, trusted_dirs=trusted, **{**flags, **pinned})
    return CorpusSpec.of(roots, include, exclude), settings


class CorpusPath(click.ParamType):
    """A PATH argument: a git URL (`URL[@ref]`, kept as given) or a local path (which must exist
    when `exists`); a string either way, since Path() would fold a URL's `//`."""

    name = "path"

    def __init__(self, *, exists: bool = False) -> None:
        self.local = click.Path(exists=exists)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from longread.ingest.remote import parse_remote

        try:
            if parse_remote(str(value)) is not None:
                return str(value)
        except LongreadError as exc:
            self.fail(str(exc), param, ctx)
        return str(self.local.convert(value, param, ctx))


TRUST_REMOTE_CONFIG = click.option(
    "--trust-remote-config", is_flag=True,
    help="Apply a fetched repository's own longread.toml (ignored by default: it could turn "
         "redaction off or choose the backend).")


def _warn_once(ctx: click.Context, message: str) -> None:
    """One stderr line per run, however often the settings are resolved."""
    seen = ctx.meta.setdefault("longread.warned", set())
    if message not in seen:
        seen.add(message)
        click.echo(f"longread: warning: {message}", err=True)


def engine_flags() -> tuple[Callable[[Any], Any], ...]:
    """The click options of the declared engine options (engine/options.py) that have a flag."""
    return tuple(_engine_flag(declared_field) for declared_field in declared()
                 if spec_of(declared_field).cli)


def _engine_flag(declared_field: dataclasses.Field[Any]) -> Callable[[Any], Any]:
    """`--max-model-len`: the declaration's help naming its LONGREAD_* variable, its type, and
    its default shown in --help while the value stays None when the flag is not given."""
    name, spec, kind = declared_field.name, spec_of(declared_field), str(declared_field.type)
    text = f"{spec.help} [{env_var(name)}]."
    if kind.startswith("bool"):
        flag = flag_name(name)
        return click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=text,
                            cls=SettingOption, show_default=spec.default_note)
    value = declared_field.default
    shown = spec.default_note or str(value)
    return click.option(flag_name(name), name, type=_CLICK_TYPES.get(kind), help=text,
                        cls=SettingOption, show_default=shown)


_CLICK_TYPES: dict[str, Any] = {"int": int, "float": float}


def confirm(question: str) -> None:
    """Ask on stderr; anything but y/yes stops with exit 1. Unlike click.confirm, Ctrl-C at the
    prompt stays an interrupt (130)."""
    click.echo(f"{question} [y/N]: ", nl=False, err=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        click.echo("longread: nothing deleted", err=True)
        sys.exit(1)


def human_size(size: float) -> str:
    """1234567 -> '1.2 MB' (decimal units, as `du --si` and file managers show them)."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


@contextmanager
def importing() -> Iterator[None]:
    """Pause the cycle collector while a job's modules load: class-heavy imports (SQLAlchemy)
    allocate objects it would scan for nothing (~20 ms of a 0.45 s cache-hit `ask` here)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
