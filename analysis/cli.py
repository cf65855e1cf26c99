"""The `longread` command: click code only — parse flags, build Settings, call one job, render."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from longread.analysis.config import Settings, load_settings
from longread.ingest.errors import LongreadError


class _Group(click.Group):
    """Turns every LongreadError into one line on stderr and its exit code; never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LongreadError as exc:
            click.echo(f"longread: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("longread: interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Cache folder [LONGREAD_CACHE_DIR].")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens to stderr.")
@click.version_option(package_name="longread")
@click.pass_context
def cli(ctx: click.Context, cache_dir: str | None, verbose: bool) -> None:
    """Answer questions over a whole corpus — a repository, a folder of PDFs, or both."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="longread: %(message)s")
    ctx.obj = {"cache_dir": cache_dir}


def settings_from(ctx: click.Context, **flags: Any) -> Settings:
    """Settings for one command: its own flags over the group's, environment, file, defaults."""
    merged = {**(ctx.obj or {}), **flags}
    return load_settings(merged)


def main() -> None:
    cli(prog_name="longread")


if __name__ == "__main__":
    main()
