"""PDF, docx, web page, e-book and notebook extraction in worker processes: a pathological file is
stopped at its time limit.

A page that hangs inside a PDF library cannot be interrupted from Python in the same process; a
worker can be killed. The same pool puts both cores to work on a cold folder of PDFs, and a reader
that crashes (a segfault in native code) costs one file, not the run.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout

from longread.ingest.documents import read_document
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
    return extract_files([("pdf", data) for data in datas], time_limit_s=time_limit_s,
                         isolate=isolate, render=render)


def extract_files(
    items: Sequence[tuple[str, bytes]], *, time_limit_s: float, isolate: bool = True,
    render: bool = False,
) -> list[Extraction]:
    """One Extraction per (kind, bytes) of a PDF, docx, web page, e-book or notebook, in order;
    a file over its time limit is killed and skipped. `render`: a PDF's pages without a text
    layer are drawn for OCR too, after the text and within a time limit of their own (so its
    worker is killed only past twice the limit)."""
    if not items:
        return []
    if not isolate:
        return [read_file(kind, data, time_limit_s, render) for kind, data in items]
    from pebble import ProcessExpired, ProcessPool

    context = multiprocessing.get_context("forkserver")
    with ProcessPool(max_workers=min(WORKERS, len(items)), context=context) as pool:
        futures = [
            pool.schedule(read_file, args=(kind, data, time_limit_s, render),
                          timeout=time_limit_s * (2 if render and kind == "pdf" else 1) + GRACE_S)
            for kind, data in items
        ]
        results = []
        for (kind, _), future in zip(items, futures, strict=True):
            try:
                results.append(future.result())
            except FutureTimeout:
                results.append(Extraction(skip_reason=_timed_out(kind, time_limit_s)))
            except ProcessExpired as exc:
                results.append(Extraction(
                    skip_reason=f"{_name(kind)} reader crashed (exit {exc.exitcode})"))
    return results


def read_file(kind: str, data: bytes, time_limit_s: float, render: bool = False) -> Extraction:
    """The reader of `kind`, run in a worker (a module-level function, so it pickles)."""
    if kind == "pdf":
        return read_pdf(data, time_limit_s=time_limit_s, render=render)
    return read_document(kind, data, time_limit_s=time_limit_s)


def _name(kind: str) -> str:
    return "PDF" if kind == "pdf" else kind


def _timed_out(kind: str, time_limit_s: float) -> str:
    return f"{_name(kind)} extraction stopped after the {time_limit_s:g} s per-file time limit"
