"""Runs a batch: each process takes its share of the jobs, loads each model once, and records every job.

Without a launcher there is one process and it does every job. Under ``accelerate launch`` (or
torchrun) there are N processes, on one machine or many: process i takes jobs i, i+N, i+2N, ... of
the file's valid jobs, so the split does not depend on what is already done (machines without a
shared disk still agree on it). Each job goes through `pixelgif.run.run_morph`, the path of
``pixelgif morph``, so its files are the bytes that command writes. A job that fails is recorded
with its reason and the next one starts; only Ctrl-C stops the run (and a rerun resumes it).
A process makes its jobs one at a time, or in worker processes side by side (`workers`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from .execute import EngineCache, Outcome, run_job
from .gallery import Entry, write_gallery
from .jobs import BadLine, Job
from .state import clean_leftovers, is_done, read_record, record_path, state_dir
from .workers import AUTO, run_in_workers, worker_count

# A process that finished its share waits for the others at the end: far longer than torch's default.
BARRIER_TIMEOUT = timedelta(days=30)


@dataclass
class BatchResult:
    """The outcome of every job (from all processes), the bad lines, and where the gallery is."""

    jobs: list[Job]
    bad: list[BadLine]
    outcomes: list[Outcome]
    gallery: Path | None = None
    is_main: bool = True  # the process that prints the summary
    num_processes: int = 1
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return sorted((o for o in self.outcomes if o.status == "failed"), key=lambda o: o.line)

    @property
    def ok(self) -> bool:
        """True if every line is a job and every job is done."""
        return not self.bad and not self.failures

    def summary(self) -> str:
        text = (f"{len(self.jobs)} job{'s' * (len(self.jobs) != 1)}: {self.count('done')} done, "
                f"{self.count('skipped')} skipped (done before), {self.count('failed')} failed")  # fmt: skip
        if self.bad:
            text += f"; {len(self.bad)} bad line{'s' * (len(self.bad) != 1)}"
        return text


class Progress:
    """One bar over all jobs on the main process: jobs done, frames per second, time left.

    Other processes' jobs are counted from their records (polled), as they finish."""

    def __init__(self, outdir: Path, jobs: list[Job], done_before: set[str], enabled: bool, poll: bool):
        from tqdm.auto import tqdm

        self.outdir, self.enabled = outdir, enabled
        self.seen = set(done_before)
        self.frames, self.failed = 0, 0
        self.started = time.time()
        self.lock = threading.Lock()
        self.bar = tqdm(total=len(jobs), initial=len(self.seen), unit="job", desc="batch", disable=not enabled,
                        dynamic_ncols=True, smoothing=0.05)  # fmt: skip
        self.records = {record_path(outdir, j).name: j for j in jobs if j.name not in self.seen}
        self.records.update({record_path(outdir, j, failed=True).name: j for j in jobs if j.name not in self.seen})
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True) if enabled and poll else None
        if self.thread is not None:
            self.thread.start()

    def finished(self, job: Job, frames: int = 0, reason: str | None = None) -> None:
        with self.lock:
            if job.name in self.seen:
                return
            self.seen.add(job.name)
            self.frames += frames
            if reason is not None:
                self.failed += 1
                if self.enabled:
                    self.bar.write(f"line {job.line} failed: {reason}")
            rate = self.frames / max(time.time() - self.started, 1e-9)
            postfix = f"{rate:.1f} frames/s" + (f", {self.failed} failed" if self.failed else "")
            self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.update(1)

    def _poll(self) -> None:
        folder = state_dir(self.outdir)
        while not self.stop.wait(1.0):
            with contextlib.suppress(OSError):
                for entry in os.scandir(folder):
                    job = self.records.get(entry.name)
                    if job is None or job.name in self.seen or entry.stat().st_mtime < self.started - 1:
                        continue
                    record = read_record(Path(entry.path))
                    if record is not None and record.get("key") == job.key:
                        self.finished(job, record.get("frames", 0), record.get("reason"))

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
        self.bar.close()


def run_batch(
    jobs: list[Job],
    bad: list[BadLine],
    outdir: str | os.PathLike,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    workers: int | str = 1,
) -> BatchResult:
    """Run this process's share of ``jobs`` into ``outdir``; return every job's outcome (all processes').

    The main process reports ``bad`` lines and failures through ``log``, shows the progress bar
    (``progress``) and writes the gallery. ``workers``: processes that make this process's jobs
    side by side (`pixelgif.batch.workers`; "auto": `auto_workers`' choice, the CLI's default;
    the default 1 never forks the caller's process).
    """
    from accelerate import PartialState

    started = time.perf_counter()
    state = PartialState(cpu=_cpu_only(), timeout=BARRIER_TIMEOUT)
    outdir = Path(outdir)
    log = log if log is not None and state.is_main_process else (lambda message: None)
    outdir.mkdir(parents=True, exist_ok=True)
    if state.is_local_main_process:  # before anyone writes: a killed run's temporary files
        clean_leftovers(outdir, jobs)
        for folder in {path.parent for job in jobs for path in job.paths()}:
            folder.mkdir(parents=True, exist_ok=True)
    for line in bad:
        log(str(line))
    done_before = {job.name for job in jobs if is_done(outdir, job)}
    state.wait_for_everyone()

    mine = jobs[state.process_index :: state.num_processes]
    first: dict[tuple, int] = {}  # model -> its first job: jobs of one model run together, so it loads once
    for index, job in enumerate(mine):
        first.setdefault(_model_key(job), index)
    mine.sort(key=lambda job: (first[_model_key(job)], job.line))
    device = str(state.device) if state.num_processes > 1 and state.device.type != "cpu" else None
    todo = [job for job in mine if job.name not in done_before]
    outcomes = [Outcome(job.line, job.name, "skipped") for job in mine if job.name in done_before]
    count = _worker_count(workers, todo, state.num_processes)
    engines = EngineCache(device) if count <= 1 else None
    inversions = None  # workers share their keyframe inversions through files here
    if engines is None:  # forks: before the bar's thread
        with contextlib.suppress(OSError):  # no temporary folder: each worker inverts on its own
            inversions = tempfile.TemporaryDirectory(prefix="pixelgif-inversions-")
        store = Path(inversions.name) if inversions is not None else None
        finished = run_in_workers(todo, outdir, count, _cpu_threads(), state.process_index, store)
    else:
        finished = _one_by_one(todo, outdir, engines, state.process_index)
    bar = Progress(outdir, jobs, done_before, enabled=progress and state.is_main_process,
                   poll=state.num_processes > 1)  # fmt: skip
    try:
        for job, outcome in finished:
            outcomes.append(outcome)
            bar.finished(job, outcome.frames, outcome.reason)
    finally:
        finished.close()  # workers: started jobs finish, the rest are dropped
        bar.close()
        engines = None  # frees the model before the processes wait for each other
        if inversions is not None:
            inversions.cleanup()
    if state.num_processes > 1:
        from accelerate.utils import gather_object

        outcomes = gather_object(outcomes)
        # Torn down here, not by destructors as the interpreter exits: gloo's threads left to those
        # can abort the process ("terminate called without an active exception", exit code -6).
        state.destroy_process_group()
    result = BatchResult(jobs, bad, sorted(outcomes, key=lambda o: o.line), is_main=state.is_main_process,
                         num_processes=state.num_processes)  # fmt: skip
    if state.is_main_process:
        by_line = {outcome.line: outcome for outcome in result.outcomes}
        entries = [
            Entry(job.line, job.name, job.prompts, job.format, by_line[job.line].reason)
            for job in jobs
            if by_line[job.line].reason is not None or job.request.output.exists()
        ]  # not: another disk's
        result.gallery = write_gallery(outdir, entries, result.summary(), [str(line) for line in bad])
    result.seconds = time.perf_counter() - started
    return result


def _one_by_one(
    jobs: list[Job], outdir: Path, engines: EngineCache, process: int
) -> Generator[tuple[Job, Outcome], None, None]:
    for job in jobs:
        yield job, run_job(job, outdir, engines, process)


def _worker_count(workers: int | str | None, jobs: list[Job], num_processes: int) -> int:
    """Return how many worker processes make ``jobs`` (see `worker_count`); 1 under a launcher."""
    if num_processes > 1:
        if workers not in (None, AUTO, 1):
            raise ValueError(
                f"workers={workers} runs worker processes on one machine; under accelerate launch every "
                "process makes its jobs one at a time (set --num_processes instead)"
            )
        return 1
    return worker_count(workers, jobs, _cpu_threads())


def _cpu_threads() -> int:
    """Return the CPU threads this process would compute on (torch's count: OMP_NUM_THREADS or the cores)."""
    import torch

    return torch.get_num_threads()


def _cpu_only() -> bool:
    """Return True where processes are to share CPUs (accelerate's test for launched processes differs)."""
    import torch

    return os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true") or not torch.cuda.is_available()


def _model_key(job: Job) -> tuple:
    return tuple(sorted(job.request.model.items()))
