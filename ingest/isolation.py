"""PDF extraction in worker processes: a pathological file is stopped at its time limit.

A page that hangs inside a PDF library cannot be interrupted from Python in the same process; a
worker can be killed. The same pool puts both cores to work on a cold folder of PDFs, and a reader
that crashes (a segfault in native code) costs one file, not the run.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout

from longread.ingest.pdf import read_pdf
from longread.ingest.textfile import Extraction

WORKERS = 2
GRACE_S = 1.0  # on top of the cooperative per-page check inside read_pdf


def extract_pdfs(
    datas: Sequence[bytes], *, time_limit_s: float, isolate: bool = True, render: bool = False
) -> list[Extraction]:
    """One Extraction per PDF, in order; a file over its time limit is killed and skipped.
    `render`: pages without a text layer are drawn for OCR too, after the text and within a
    time limit of their own (so the worker is killed only past twice the limit)."""
    if not datas:
        return []
    if not isolate:
        return [read_pdf(data, time_limit_s=time_limit_s, render=render) for data in datas]
    from pebble import ProcessExpired, ProcessPool

    context = multiprocessing.get_context("forkserver")
    with ProcessPool(max_workers=min(WORKERS, len(datas)), context=context) as pool:
        futures = [
            pool.schedule(read_pdf, args=(data,),
                          kwargs={"time_limit_s": time_limit_s, "render": render},
                          timeout=time_limit_s * (2 if render else 1) + GRACE_S)
            for data in datas
        ]
        results = []
        for future in futures:
            try:
                results.append(future.result())
            except FutureTimeout:
                results.append(Extraction(skip_reason=_timed_out(time_limit_s)))
            except ProcessExpired as exc:
                results.append(Extraction(skip_reason=f"PDF reader crashed (exit {exc.exitcode})"))
    return results


def _timed_out(time_limit_s: float) -> str:
    return f"PDF extraction stopped after the {time_limit_s:g} s per-file time limit"
