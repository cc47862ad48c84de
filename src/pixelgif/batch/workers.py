"""Worker processes on one machine: a batch's jobs made two (or more) at a time, each worker with its
own model and its share of the CPU threads.

A small model on a CPU leaves cores idle between UNet calls (matching drawings, pixelating, writing
the file run on one thread), so two single-threaded workers make more jobs a minute than one
process with two threads. Big models and GPUs run one job at a time (`auto_workers`). Workers are
forked from the batch process before any model loads, so they start without importing again, where
a forked child cannot hang (`_context`); else they fork from a fresh server process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Generator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .execute import EngineCache, Outcome, run_job

if TYPE_CHECKING:
    from .jobs import Job

# Workers `auto_workers` starts at most: each holds its own copy of the model and libraries.
MAX_AUTO_WORKERS = 4
AUTO = "auto"

_engines: EngineCache | None = None  # a worker's models, loaded on its first job


def auto_workers(jobs: list[Job], threads: int) -> int:
    """Return how many workers suit ``jobs`` on a machine with ``threads`` CPU threads for us: one
    per thread (up to `MAX_AUTO_WORKERS`) when every job's model is the bundled sprite model (or a
    folder of its architecture) running on the CPU, else 1."""
    if len(jobs) < 2 or threads < 2 or not all(_small_cpu_model(job.request.model) for job in jobs):
        return 1
    return min(len(jobs), threads, MAX_AUTO_WORKERS)


def run_in_workers(
    jobs: list[Job], outdir: Path, workers: int, threads: int, process: int = 0, inversions: Path | None = None
) -> Generator[tuple[Job, Outcome], None, None]:
    """Start ``workers`` processes on ``jobs`` now (``threads`` CPU threads shared out among them);
    return an iterator of ``(job, outcome)`` as they finish. A worker that dies (killed, out of
    memory) fails its job with a reason; Ctrl-C lets started jobs finish, then stops. Workers keep
    their keyframe inversions in the folder ``inversions`` for each other (`EngineCache.inversion_store`).

    Call it before starting threads (a progress bar's): the workers may be forked from this process."""
    from ..models.bundled.onnx_session import finish_prebuild

    each = max(1, threads // workers)
    finish_prebuild()  # forked workers take the UNet session the batch process built while it imported torch
    executor = ProcessPoolExecutor(
        workers, mp_context=_context(each, jobs), initializer=_start_worker, initargs=(each, inversions)
    )
    pending = {executor.submit(_run, job, outdir, process): job for job in jobs}  # forks the workers
    return _finished(executor, pending)


def _finished(executor: ProcessPoolExecutor, pending: dict[Future, Job]) -> Generator[tuple[Job, Outcome], None, None]:
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    reason = "a worker process stopped unexpectedly (killed, or out of memory?); run the batch again"
                    outcome = Outcome(job.line, job.name, "failed", reason)
                yield job, outcome
    finally:
        # Ctrl-C or an error: jobs not started are dropped, started ones finish (their files are
        # written atomically and recorded, so a rerun skips them).
        executor.shutdown(wait=True, cancel_futures=True)


def _context(threads: int, jobs: list[Job]) -> multiprocessing.context.BaseContext:
    """Return how to start workers of ``threads`` threads for ``jobs``: forked from this process (no
    imports again) where that is safe, else from a fresh server process.

    A forked child cannot use a GPU whose driver this process has started (asking whether there is
    one may have), so only CPU jobs fork.
    A forked child that computes on more than one OpenMP thread hangs if this process used OpenMP
    before (GNU libgomp's pool does not survive a fork), and a library embedding pixelgif may have."""
    methods = multiprocessing.get_all_start_methods()
    if sys.platform == "linux" and threads == 1 and all(_on_cpu(job.request.model) for job in jobs):
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])  # the server imports once; every worker forks from it
        return context
    return multiprocessing.get_context("spawn")


def _start_worker(threads: int, inversions: Path | None = None) -> None:
    """Set a new worker's thread count and its engines; Ctrl-C is the parent's to handle (it lets
    started jobs finish)."""
    global _engines
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    _engines = EngineCache(inversion_store=inversions)


def _run(job: Job, outdir: Path, process: int) -> Outcome:
    """Make ``job`` in this worker, with the worker's own models."""
    global _engines
    if _engines is None:
        _engines = EngineCache()
    return run_job(job, outdir, _engines, process)


def _small_cpu_model(model: dict[str, Any]) -> bool:
    """Return True when ``model`` (`RunRequest.model`) is a sprite model that will run on the CPU."""
    from ..models.presets import uses_sprite_model

    return uses_sprite_model(model) and _on_cpu(model)


def _on_cpu(model: dict[str, Any]) -> bool:
    """Return True when ``model``'s device (`RunRequest.model`) will be the CPU."""
    device = str(model.get("device") or AUTO)
    return device == "cpu" or (device == AUTO and not _accelerator_available())


def _accelerator_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps is not None and mps.is_available())


def worker_count(value: int | str | None, jobs: list[Job], threads: int) -> int:
    """Return the worker count ``value`` asks for (a number, or "auto"/None: `auto_workers`), at most one per job."""
    if value is None or value == AUTO:
        return auto_workers(jobs, threads)
    return max(1, min(int(value), len(jobs)))
