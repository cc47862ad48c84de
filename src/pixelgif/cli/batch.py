"""``pixelgif batch``: a job file in, one animation per job out, resumable, on one process or many."""

from __future__ import annotations

import argparse
import sys

from ..options import OPTIONS
from .morph import _quiet_libraries, add_run_options
from .options import one_line_error, whole_number

DESCRIPTION = """\
Make one morph per job of JOBS into OUTDIR. JOBS is a JSON Lines file, one job per line: a settings
file of pixelgif morph (its JSON on one line), or "prompts" plus options named like the flags below
({"prompts": ["a red dragon", "a blue whale"], "seed": 3, "pixel_size": 4, "output": "dragon.gif"}),
or a .csv file with a prompts column (prompts separated by |) and a column per option. The flags
below are defaults for every job; a job's own settings win. A job without "output" is named after
its line and prompts (0003-a-red-dragon-a-blue-whale.gif). Jobs that share a model share one load.

Every output and its settings file are written atomically, then the job is recorded as done in
OUTDIR/.pixelgif-batch/: the same command again (after a crash, Ctrl-C or kill -9) skips finished
jobs and redoes only the rest. A job that fails is reported with its line number and the others go
on; the exit status is 0 only if every line made its animation. OUTDIR/index.html shows them all."""

EPILOG = """\
examples:
  pixelgif batch jobs.jsonl -o sprites/                       # one process, every job
  pixelgif batch jobs.csv -o sprites/ --steps 20 --frames 8   # defaults for jobs that set none
  pixelgif batch jobs.jsonl -o sprites/ --workers 1           # one job at a time
  accelerate launch --num_processes 4 -m pixelgif batch jobs.jsonl -o sprites/   # 4 GPUs, one model load each
  accelerate launch --num_machines 2 --machine_rank 0 --main_process_ip HOST --num_processes 16 \\
      -m pixelgif batch jobs.jsonl -o /shared/sprites/       # and --machine_rank 1 on the second machine
see docs/batch.md for the job format, resuming, and multi-GPU and multi-machine runs."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "batch", help="many morphs from a job file (resumable, multi-GPU with accelerate launch)",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("jobs", metavar="JOBS", help="job file: JSON Lines (one job per line) or .csv")
    parser.add_argument(
        "-o", "--output", dest="outdir", metavar="OUTDIR", required=True, help="folder for the outputs (made if new)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--workers", type=_workers, default=AUTO, metavar="N",
        help="processes on this machine making jobs side by side, each with its own model and share of the "
        "CPU threads (default auto: one per CPU thread, up to 4, when every job runs the bundled model on the "
        "CPU; else 1)",
    )  # fmt: skip
    parser.add_argument(
        "--check", action="store_true", help="only read JOBS: list the jobs and bad lines, render nothing"
    )
    add_run_options(parser)
    parser.error = one_line_error(parser)  # bad input is one line, as for every other error
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    from ..batch import read_jobs

    defaults = {name: getattr(args, name) for name in OPTIONS if name not in ("prompts", "output")}
    jobs, bad = read_jobs(args.jobs, args.outdir, defaults)
    if not jobs and not bad:
        raise ValueError(f"job file {args.jobs!r} has no jobs")
    if args.check:
        for job in jobs:
            print(f"line {job.line}: {job.name} ({' → '.join(job.prompts)})")
        for line in bad:
            print(line, file=sys.stderr)
        print(f"{len(jobs)} job{'s' * (len(jobs) != 1)}, {len(bad)} bad line{'s' * (len(bad) != 1)}")
        return 0 if not bad else 1

    from tqdm.auto import tqdm

    from ..batch import run_batch
    from ..models import start_sprite_session

    if jobs:
        start_sprite_session(jobs[0].request.model)  # the bundled UNet's session, built while torch loads
    _quiet_libraries(*(job.request.model for job in jobs))
    result = run_batch(jobs, bad, args.outdir, progress=not args.quiet, log=lambda m: tqdm.write(m, file=sys.stderr),
                       workers=args.workers)  # fmt: skip
    if result.is_main:
        for outcome in result.failures:
            print(f"line {outcome.line} failed ({outcome.name}): {outcome.reason}", file=sys.stderr)
        processes = f" on {result.num_processes} processes" if result.num_processes > 1 else ""
        print(f"{result.summary()}{processes} in {result.seconds:.1f} s; gallery: {result.gallery}")
    return 0 if result.ok else 1


AUTO = "auto"  # `pixelgif.batch.workers.AUTO` (not imported: it loads torch)


def _workers(text: str) -> int | str:
    """Return ``text`` as a worker count: "auto" or a whole number of at least 1."""
    return whole_number(text, name="workers", words=(AUTO,))
